//! `mxkit scan` at scale, end to end against a real knotd serving the
//! generated mix (`testbed::scanmix`): `--threads` (every line once and
//! correct, `--rate` a total over the threads), `--shard K/N` runs killed
//! with SIGKILL and resumed, and `mxkit scan-merge` joining them into input
//! order with its exactly-once check (and refusing what is not exactly
//! once).
//!
//! No sleeps: a killed run is watched by polling its output file's size.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};

use serde_json::Value;
use testbed::scanmix::Mix;

mod scan_support;
use scan_support::{kill_when_started, knot, most_queries, mxkit, read_lines, write_input};

/// The line numbers of a result file; panics on a number seen twice.
fn line_numbers(values: &[Value]) -> BTreeSet<u64> {
    let mut seen = BTreeSet::new();
    for v in values {
        let line = v["line"].as_u64().unwrap();
        assert!(seen.insert(line), "line {line} written twice");
    }
    seen
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = mxkit().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn threads_route_every_line_once_and_the_rate_is_their_total() {
    let mix = Mix::generate(16_001, 10_000);
    let knot = knot(&mix);
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &mix.input);
    let server = knot.addr().to_string();
    // More threads than this machine has cores: still one line each.
    for threads in ["1", "2", "3"] {
        let output = dir.path().join(format!("out-{threads}.jsonl"));
        let stats = dir.path().join(format!("stats-{threads}.json"));
        let (code, _, stderr) = run(&[
            "scan",
            input.to_str().unwrap(),
            "--server",
            &server,
            "--threads",
            threads,
            "--output",
            output.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
            "--no-progress",
        ]);
        assert_eq!(code, 0, "{stderr}");
        let values = read_lines(&output);
        assert_eq!(values.len(), mix.expected.len(), "--threads {threads}");
        line_numbers(&values);
        mix.check(&values).unwrap();
        let stats: Value = serde_json::from_str(&fs::read_to_string(&stats).unwrap()).unwrap();
        assert_eq!(stats["threads"], threads.parse::<u64>().unwrap());
        assert_eq!(stats["domains"], mix.expected.len() as u64);
        // One cache for all threads: shared exchangers are still asked
        // about once (a duplicate line asks its MX again).
        let queries = stats["queries"].as_u64().unwrap();
        let most = most_queries(&mix, &stats);
        assert!(queries <= most, "--threads {threads}: {queries} > {most}");
    }

    // --rate bounds the sum over the threads: 2 threads at --rate 5000 send
    // no faster than 5000 queries a second in all (plus the 20 ms burst a
    // bound keeps), never 2 x 5000.
    let output = dir.path().join("rated.jsonl");
    let stats = dir.path().join("rated.json");
    let lines: Vec<String> = mix.input.iter().take(3000).cloned().collect();
    let small = dir.path().join("small.txt");
    fs::write(&small, lines.join("\n") + "\n").unwrap();
    let (code, _, stderr) = run(&[
        "scan",
        small.to_str().unwrap(),
        "--server",
        &server,
        "--threads",
        "2",
        "--rate",
        "5000",
        "--output",
        output.to_str().unwrap(),
        "--stats",
        stats.to_str().unwrap(),
        "--no-progress",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let stats: Value = serde_json::from_str(&fs::read_to_string(&stats).unwrap()).unwrap();
    let queries = stats["queries"].as_f64().unwrap();
    let elapsed = stats["elapsed"].as_f64().unwrap();
    assert!(queries > 3000.0, "{stats:#}");
    assert!(
        queries / elapsed <= 5000.0 * 1.05 + 100.0 / elapsed,
        "{queries} queries in {elapsed} s: over --rate 5000 in all"
    );
}

/// Start shard `k` of `n` over `input` into `output`, slowed by --rate so
/// that it can be killed while it runs.
fn start_shard(input: &Path, server: &str, k: u64, n: u64, output: &Path, resume: bool) -> Child {
    let shard = format!("{k}/{n}");
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("mxkit"));
    cmd.args(["scan", input.to_str().unwrap(), "--server", server])
        .args(["--shard", &shard, "--threads", "2"])
        .args(["--output", output.to_str().unwrap(), "--no-progress"])
        .args(["--rate", "3000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if resume {
        cmd.arg("--resume");
    }
    cmd.spawn().unwrap()
}

#[test]
fn shards_killed_and_resumed_merge_into_the_whole_input_exactly_once() {
    const N: u64 = 3;
    let mix = Mix::generate(16_002, 9_000);
    let knot = knot(&mix);
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &mix.input);
    let server = knot.addr().to_string();
    let outputs: Vec<PathBuf> = (0..N)
        .map(|k| dir.path().join(format!("shard-{k}.jsonl")))
        .collect();
    // The three shards run at once, as three machines would; two are
    // killed with SIGKILL partway.
    let mut children: Vec<Child> = (0..N)
        .map(|k| start_shard(&input, &server, k, N, &outputs[k as usize], true))
        .collect();
    for k in [0, 2] {
        kill_when_started(&mut children[k], &outputs[k]);
    }
    assert!(children[1].wait().unwrap().success(), "shard 1/3 finished");
    for (k, output) in outputs.iter().enumerate() {
        let values = read_lines_whole(output);
        for line in line_numbers(&values) {
            assert_eq!(line % N, k as u64, "shard {k}/{N} routed line {line}");
        }
    }

    // Merging now: the lines of the killed shards are missing, counted
    // per shard, and the rest is written.
    let merged = dir.path().join("merged.jsonl");
    let outs: Vec<&str> = outputs.iter().map(|p| p.to_str().unwrap()).collect();
    let merge = |extra: &[&str]| {
        let mut args = vec![
            "scan-merge",
            "--input",
            input.to_str().unwrap(),
            "--output",
            merged.to_str().unwrap(),
            "--shards",
            "3",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let (code, _, stderr) = merge(&outs);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("without a result"), "{stderr}");
    assert!(
        stderr.contains("rerun it with --shard 0/3 --resume"),
        "{stderr}"
    );
    assert!(
        stderr.contains("rerun it with --shard 2/3 --resume"),
        "{stderr}"
    );
    assert!(!stderr.contains("shard 1/3:"), "{stderr}");

    // A shard's output resumed as another shard is refused, untouched.
    let before = fs::read(&outputs[0]).unwrap();
    let (code, _, stderr) = run(&[
        "scan",
        input.to_str().unwrap(),
        "--server",
        &server,
        "--shard",
        "1/3",
        "--output",
        outputs[0].to_str().unwrap(),
        "--resume",
        "--no-progress",
    ]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("not a line of shard 1/3"), "{stderr}");
    let whole = before.len() - before.iter().rev().take_while(|&&b| b != b'\n').count();
    assert_eq!(&fs::read(&outputs[0]).unwrap()[..whole], &before[..whole]);

    // Resumed, each with its own --shard: then the merge is complete, in
    // input order, each line once and correct.
    for k in [0u64, 2] {
        let mut child = start_shard(&input, &server, k, N, &outputs[k as usize], true);
        assert!(child.wait().unwrap().success(), "shard {k}/{N} resumed");
    }
    let stats = dir.path().join("merge.json");
    let mut extra = outs.clone();
    extra.extend(["--stats", stats.to_str().unwrap(), "--chunk-mb", "1"]);
    let (code, _, stderr) = merge(&extra);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("every domain line exactly once"),
        "{stderr}"
    );
    let values = read_lines(&merged);
    assert_eq!(values.len(), mix.expected.len());
    let lines: Vec<u64> = values.iter().map(|v| v["line"].as_u64().unwrap()).collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "input order");
    mix.check(&values).unwrap();
    let stats: Value = serde_json::from_str(&fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(stats["complete"], true);
    assert_eq!(stats["missing"], 0);
    assert!(
        stats["runs"].as_u64().unwrap() > 1,
        "sorted through runs: {stats}"
    );

    // A shard given twice: lines routed twice are refused, and nothing is
    // written over the good merge.
    let good = fs::read(&merged).unwrap();
    let mut twice = outs.clone();
    twice.push(outs[1]);
    let refused_stats = dir.path().join("refused.json");
    twice.extend(["--stats", refused_stats.to_str().unwrap()]);
    let (code, _, stderr) = merge(&twice);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("has two results"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(fs::read(&merged).unwrap(), good);
    assert!(!refused_stats.exists(), "no --stats for a refused merge");
    // Shards of another input are refused.
    let other = dir.path().join("other.txt");
    let mut shuffled = mix.input.clone();
    shuffled.reverse();
    fs::write(&other, shuffled.join("\n") + "\n").unwrap();
    let (code, _, stderr) = run(&[
        "scan-merge",
        "--input",
        other.to_str().unwrap(),
        outs[0],
        outs[1],
        outs[2],
    ]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("run on another input"), "{stderr}");
    // The merged output as --output is refused: it is being read.
    let (code, _, stderr) = run(&[
        "scan-merge",
        "--input",
        input.to_str().unwrap(),
        "--output",
        outs[0],
        outs[0],
    ]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("being read"), "{stderr}");
}

/// The whole lines of a result file (a killed run may leave a partial
/// last one).
fn read_lines_whole(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap();
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    whole
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn shard_and_thread_flags_are_checked_before_anything_runs() {
    for (args, needle) in [
        (&["--shard", "3/3"][..], "expected K/N"),
        (&["--shard=-1/3"][..], "expected K/N"),
        (&["--shard", "1"][..], "expected K/N"),
        (&["--threads", "0"][..], "--threads"),
        (&["--threads", "100000"][..], "--threads"),
    ] {
        let mut all = vec!["scan", "-", "--offline"];
        all.extend_from_slice(args);
        let (code, _, stderr) = run(&all);
        assert_eq!(code, 64, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    let (code, _, stderr) = run(&["scan-merge", "--input", "/dev/zero", "/dev/null"]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    let (code, _, stderr) = run(&["scan-merge", "x.jsonl"]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("--input"), "{stderr}");
}

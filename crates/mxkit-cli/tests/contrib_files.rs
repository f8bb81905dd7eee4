//! The files in contrib/ that run a sharded `mxkit scan` (docs/scan.md,
//! "Routing at internet scale"): the Kubernetes Job has the fields the Job
//! API requires and gives each completion index its own shard and output
//! file; the Slurm script is valid bash and gives each array task its own
//! shard and output file; the systemd units link to pages that exist.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

const JOB: &str = "scan-k8s-job.yaml";
const SLURM: &str = "scan-slurm.sh";
const INDEX: &str = "$(JOB_COMPLETION_INDEX)";

fn contrib(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../contrib")
        .join(name)
}

fn read(name: &str) -> String {
    let path = contrib(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The node at `path` (keys separated by dots) under `node`.
fn at<'a>(node: &'a Yaml, path: &str) -> &'a Yaml {
    let mut n = node;
    for key in path.split('.') {
        n = &n[key];
        assert!(!n.is_badvalue(), "{JOB}: no {path}");
    }
    n
}

fn str_at<'a>(node: &'a Yaml, path: &str) -> &'a str {
    let s = at(node, path)
        .as_str()
        .unwrap_or_else(|| panic!("{JOB}: {path} is not a string"));
    assert!(!s.is_empty(), "{JOB}: {path} is empty");
    s
}

fn int_at(node: &Yaml, path: &str) -> i64 {
    at(node, path)
        .as_i64()
        .unwrap_or_else(|| panic!("{JOB}: {path} is not an integer"))
}

fn list_at<'a>(node: &'a Yaml, path: &str) -> &'a [Yaml] {
    at(node, path)
        .as_vec()
        .unwrap_or_else(|| panic!("{JOB}: {path} is not a list"))
}

/// A container's command and args as words (a `sh -c` script split at
/// white space).
fn words(container: &Yaml) -> Vec<String> {
    let mut words = Vec::new();
    for key in ["command", "args"] {
        let Some(list) = container[key].as_vec() else {
            continue;
        };
        for item in list {
            let s = item
                .as_str()
                .unwrap_or_else(|| panic!("{JOB}: an item of {key} is not a string"));
            words.extend(s.split_whitespace().map(str::to_owned));
        }
    }
    words
}

/// The value of `--flag V` or `--flag=V` in `words`.
fn flag<'a>(words: &'a [String], name: &str) -> Option<&'a str> {
    words.iter().enumerate().find_map(|(i, w)| {
        if w == name {
            words.get(i + 1).map(String::as_str)
        } else {
            w.strip_prefix(name)?.strip_prefix('=')
        }
    })
}

#[test]
fn the_kubernetes_job_runs_one_shard_per_completion_index() {
    let docs =
        YamlLoader::load_from_str(&read(JOB)).unwrap_or_else(|e| panic!("{JOB}: not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{JOB}: one document, the Job");
    let job = &docs[0];

    assert_eq!(str_at(job, "apiVersion"), "batch/v1");
    assert_eq!(str_at(job, "kind"), "Job");
    // The Job's name goes into its pods' labels: a DNS label.
    let name = str_at(job, "metadata.name");
    assert!(
        name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-'),
        "{JOB}: metadata.name {name:?} is not a DNS label"
    );

    assert_eq!(str_at(job, "spec.completionMode"), "Indexed");
    let completions = int_at(job, "spec.completions");
    let parallelism = int_at(job, "spec.parallelism");
    assert!(completions >= 1, "{JOB}: spec.completions {completions}");
    assert!(
        (1..=completions).contains(&parallelism),
        "{JOB}: spec.parallelism {parallelism} with {completions} completions"
    );

    let per_index = !job["spec"]["backoffLimitPerIndex"].is_badvalue();
    if per_index {
        assert!(int_at(job, "spec.backoffLimitPerIndex") >= 0);
    }
    let failure_policy = !job["spec"]["podFailurePolicy"].is_badvalue();
    let restart = str_at(job, "spec.template.spec.restartPolicy");
    assert!(
        ["Never", "OnFailure"].contains(&restart),
        "{JOB}: restartPolicy {restart:?}"
    );
    if per_index || failure_policy {
        assert_eq!(
            restart, "Never",
            "{JOB}: backoffLimitPerIndex and podFailurePolicy need restartPolicy Never"
        );
    }

    let pod = at(job, "spec.template.spec");
    let volumes: Vec<&str> = list_at(pod, "volumes")
        .iter()
        .map(|v| str_at(v, "name"))
        .collect();
    let containers = list_at(pod, "containers");
    assert!(!containers.is_empty(), "{JOB}: no container");
    let mut names = Vec::new();
    let mut scans = 0;
    for c in containers {
        let name = str_at(c, "name");
        str_at(c, "image");
        assert!(!names.contains(&name), "{JOB}: container {name} twice");
        names.push(name);
        if let Some(mounts) = c["volumeMounts"].as_vec() {
            for m in mounts {
                let v = str_at(m, "name");
                assert!(volumes.contains(&v), "{JOB}: {name} mounts no volume {v}");
            }
        }

        let words = words(c);
        let Some(shard) = flag(&words, "--shard") else {
            continue;
        };
        scans += 1;
        assert!(words.iter().any(|w| w == "scan"), "{JOB}: {words:?}");
        // Kubernetes puts the pod's index in place of $(JOB_COMPLETION_INDEX);
        // N must be the Job's completions, or lines are routed by no pod
        // (N larger) or by two (N smaller).
        assert_eq!(
            shard,
            format!("{INDEX}/{completions}"),
            "{JOB}: --shard of container {name}"
        );
        // Each index its own output file, continued when the index is run
        // again.
        let output = flag(&words, "--output")
            .unwrap_or_else(|| panic!("{JOB}: container {name} has no --output"));
        assert!(
            output.contains(INDEX),
            "{JOB}: --output {output} is the same file for every index"
        );
        assert!(
            words.iter().any(|w| w == "--resume"),
            "{JOB}: container {name} does not --resume"
        );
        // One thread per core of the CPU limit.
        if let Some(threads) = flag(&words, "--threads") {
            let cpu = &c["resources"]["limits"]["cpu"];
            let cpu = cpu
                .as_str()
                .map(str::to_owned)
                .or_else(|| cpu.as_i64().map(|n| n.to_string()));
            assert_eq!(
                cpu.as_deref(),
                Some(threads),
                "{JOB}: --threads and the CPU limit"
            );
        }
    }
    assert_eq!(scans, 1, "{JOB}: one container runs mxkit scan --shard");

    if failure_policy {
        for rule in list_at(job, "spec.podFailurePolicy.rules") {
            if let Some(c) = rule["onExitCodes"]["containerName"].as_str() {
                assert!(names.contains(&c), "{JOB}: podFailurePolicy names {c}");
            }
        }
    }
}

#[test]
fn the_slurm_script_is_valid_bash() {
    let path = contrib(SLURM);
    let out = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash -n {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = read(SLURM);
    assert!(text.contains("--shard"), "{SLURM}: no --shard");
    assert!(
        text.contains("SLURM_ARRAY_TASK_ID"),
        "{SLURM}: no SLURM_ARRAY_TASK_ID"
    );
}

/// The script run as array task 3 with a stand-in `mxkit` that records its
/// arguments: shard 3 of as many as the array has tasks, into its own file,
/// resumed.
#[cfg(unix)]
#[test]
fn the_slurm_script_runs_one_shard_per_array_task() {
    use std::os::unix::fs::PermissionsExt;

    let text = read(SLURM);
    let array = text
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --array=0-"))
        .unwrap_or_else(|| panic!("{SLURM}: no #SBATCH --array=0-M"));
    let last: u32 = array.trim().parse().expect("the last task of --array");
    let shards = last + 1;

    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let recorded = dir.path().join("args");
    let fake = bin.join("mxkit");
    fs::write(&fake, "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$ARGS_FILE\"\n").unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());

    let out = Command::new("bash")
        .arg(contrib(SLURM))
        .current_dir(dir.path())
        .env("PATH", path)
        .env("ARGS_FILE", &recorded)
        .env("SLURM_ARRAY_TASK_ID", "3")
        .env("SLURM_CPUS_PER_TASK", "4")
        .env_remove("SLURM_RESTART_COUNT")
        .env_remove("INPUT")
        .env_remove("OUT")
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{SLURM}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args: Vec<String> = fs::read_to_string(&recorded)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(args.first().map(String::as_str), Some("scan"), "{args:?}");
    assert_eq!(flag(&args, "--shard"), Some(format!("3/{shards}").as_str()));
    assert_eq!(flag(&args, "--threads"), Some("4"));
    let output = flag(&args, "--output").expect("--output");
    assert!(output.ends_with("/shard-3.jsonl"), "--output {output}");
    assert!(args.iter().any(|a| a == "--resume"), "{args:?}");
}

/// The systemd units' `Documentation=` pages are files of this repository
/// (a link to a heading that was renamed, or to a page that moved, is
/// found here rather than by a reader of `systemctl help`).
#[test]
fn the_units_documentation_links_name_files_that_exist() {
    const PREFIX: &str = "https://github.com/mxkit/mxkit/blob/main/";
    for unit in ["mxkit-trap.service", "mxkit-serve.service"] {
        let text = read(unit);
        let links: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("Documentation="))
            .flat_map(str::split_whitespace)
            .collect();
        assert!(!links.is_empty(), "{unit}: no Documentation=");
        for link in links {
            let path = link
                .strip_prefix(PREFIX)
                .unwrap_or_else(|| panic!("{unit}: {link} is not a file of the repository"));
            let path = path.split('#').next().unwrap();
            assert!(
                contrib("..").join(path).is_file(),
                "{unit}: {link}: no file {path}"
            );
        }
    }
}

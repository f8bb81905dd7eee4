//! `mxkit man` and `mxkit completions`, through the binary: one manual page
//! per subcommand (nested ones too), each rendered by man-db's `man -l`
//! without a warning and saying what its `--help` says (name, options,
//! exit codes, examples); the bash completion script sourced by a bare bash
//! and asked to complete, as bash itself asks; the other shells' scripts
//! naming every subcommand (and checked by zsh and fish when installed).
//!
//! `man` (Debian's man-db, with groff-base) is required: without it these
//! tests fail, saying so; scripts/test installs it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

fn mxkit() -> Command {
    Command::cargo_bin("mxkit").unwrap()
}

/// Run mxkit, expecting exit 0; its standard output.
fn stdout_of(args: &[&str]) -> String {
    let out = mxkit().args(args).output().unwrap();
    assert!(out.status.success(), "mxkit {args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The lines of the paragraph of `help` that starts with a line beginning
/// with `heading` (to the next blank line), the heading excluded.
fn paragraph<'a>(help: &'a str, heading: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

/// The entries of a `--help` table ("Commands:", "Exit codes"): lines
/// indented by two spaces start one, deeper ones continue it; each entry
/// as (first word, the rest joined).
fn entries(lines: &[&str]) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = Vec::new();
    for line in lines {
        let trimmed = line.trim_start();
        if line.len() - trimmed.len() <= 2 {
            let (first, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
            all.push((first.to_string(), rest.trim().to_string()));
        } else if let Some((_, rest)) = all.last_mut() {
            rest.push(' ');
            rest.push_str(trimmed);
        }
    }
    all
}

/// Every subcommand, nested ones too, as the words that name it (`[]` for
/// mxkit itself), read from the "Commands:" lists of the `--help`s.
fn subcommands() -> Vec<Vec<String>> {
    fn walk(words: Vec<String>, all: &mut Vec<Vec<String>>) {
        let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
        args.push("--help");
        let help = stdout_of(&args);
        all.push(words.clone());
        for (name, _) in entries(&paragraph(&help, "Commands:")) {
            if name != "help" {
                let mut sub = words.clone();
                sub.push(name);
                walk(sub, all);
            }
        }
    }
    let mut all = Vec::new();
    walk(Vec::new(), &mut all);
    all
}

/// The page of a subcommand: `mxkit-trap-run`.
fn page_name(words: &[String]) -> String {
    std::iter::once("mxkit")
        .chain(words.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("-")
}

/// `man -l FILE` at 80 columns (`-` : standard input), with groff's
/// warnings on: the text, after checking that it rendered and warned of
/// nothing.
fn man(file: &str, stdin: Option<&[u8]>) -> String {
    use std::io::Write;
    use std::process::{Command as Std, Stdio};
    let mut child = Std::new("man")
        .args(["--warnings", "-l", file])
        .env("MANWIDTH", "80")
        .env_remove("MANPAGER")
        .env_remove("PAGER")
        .env_remove("MANOPT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "`man` could not be started: install the Debian packages man-db and groff-base \
             (scripts/test does)",
        );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or_default())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "man -l {file}: {}",
        text(&out)
    );
    let rendered = String::from_utf8(out.stdout).unwrap();
    assert!(
        !rendered.trim().is_empty(),
        "man -l {file}: nothing rendered"
    );
    plain(&rendered)
}

/// Rendered text without overstrikes (bold, underline) and with groff's
/// typographic hyphens, minus signs and quotes as typed.
fn plain(rendered: &str) -> String {
    let mut out = String::new();
    for c in rendered.chars() {
        match c {
            '\u{8}' => {
                out.pop();
            }
            '\u{2010}' | '\u{2011}' | '\u{2212}' => out.push('-'),
            '\u{2018}' | '\u{2019}' | '`' => out.push('\''),
            c => out.push(c),
        }
    }
    out
}

/// Letters and digits only: text compared whatever groff did to its
/// spacing, justification and hyphenation.
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).collect()
}

/// Words separated by single spaces: text compared whatever groff did to
/// its spacing (justification) and line breaks.
fn spaced(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The section of a rendered page under `heading`, to the next heading (a
/// line starting with a capital letter).
fn section<'a>(page: &'a str, heading: &str) -> &'a str {
    let start = page
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no {heading} section in:\n{page}"));
    let body = &page[start + heading.len() + 2..];
    let end = body
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .find(|&i| body[i..].starts_with(|c: char| c.is_ascii_uppercase()))
        .unwrap_or(body.len());
    &body[..end]
}

#[test]
fn one_man_page_per_subcommand_renders_with_what_help_says() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let listed = stdout_of(&["man", "--dir", out_dir.to_str().unwrap()]);

    let subcommands = subcommands();
    let want: BTreeSet<String> = subcommands
        .iter()
        .map(|w| format!("{}.1", page_name(w)))
        .collect();
    for page in [
        "mxkit.1",
        "mxkit-route.1",
        "mxkit-check.1",
        "mxkit-scan-merge.1",
        "mxkit-trap.1",
        "mxkit-trap-run.1",
        "mxkit-trap-export.1",
        "mxkit-serve.1",
        "mxkit-completions.1",
        "mxkit-man.1",
    ] {
        assert!(want.contains(page), "no {page} among {want:?}");
    }
    let written: BTreeSet<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(written, want, "the pages written");
    let listed: BTreeSet<String> = listed
        .lines()
        .map(|l| {
            let path = Path::new(l);
            assert_eq!(path.parent(), Some(out_dir.as_path()), "{l}");
            path.file_name().unwrap().to_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(listed, want, "the paths printed");

    for words in &subcommands {
        let name = page_name(words);
        let file = out_dir.join(format!("{name}.1"));
        let page = man(file.to_str().unwrap(), None);
        let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
        args.push("--help");
        let help = plain(&stdout_of(&args));

        // The page's name, in its header and its NAME section.
        assert!(
            page.lines()
                .next()
                .unwrap()
                .starts_with(&format!("{name}(1)")),
            "{name}: {page}"
        );
        assert!(
            spaced(section(&page, "NAME")).starts_with(&format!("{name} - ")),
            "{name}: {page}"
        );
        if !words.is_empty() {
            let synopsis = format!("mxkit {}", words.join(" "));
            assert!(
                spaced(section(&page, "SYNOPSIS")).contains(&synopsis),
                "{name}: no {synopsis:?} in {page}"
            );
        }

        // Every option of the --help (`--json` for route).
        for line in paragraph(&help, "Options:") {
            // "  -o, --output <FILE>  Write ..." or "      --json  Print ...";
            // the lines that continue a description are indented deeper.
            let entry = line.trim_start();
            if line.len() - entry.len() > 6 || !entry.starts_with('-') {
                continue;
            }
            let Some(flag) = entry
                .split([' ', ','])
                .find(|w| w.starts_with("--") && w.len() > 2)
            else {
                continue;
            };
            assert!(
                section(&page, "OPTIONS").contains(flag),
                "{name}: no {flag} in {page}"
            );
        }

        // The variables a flag reads (`[env: MXKIT_TRAP_STORE=]`).
        for var in help
            .split("[env: ")
            .skip(1)
            .filter_map(|rest| rest.split(['=', ']']).next())
        {
            assert!(
                section(&page, "OPTIONS").contains(var),
                "{name}: no {var} in {page}"
            );
        }

        // The exit codes, each with its meaning.
        let codes = entries(&paragraph(&help, "Exit codes"));
        assert!(codes.iter().any(|(c, _)| c == "64"), "{name}: {help}");
        let status = squeeze(section(&page, "EXIT STATUS"));
        for (code, meaning) in &codes {
            let entry = squeeze(&format!("{code} {meaning}"));
            assert!(
                status.contains(&entry),
                "{name}: exit code {code} ({meaning}) not in {page}"
            );
        }

        // The examples, line for line.
        let examples = paragraph(&help, "Examples:");
        if !examples.is_empty() {
            let rendered = section(&page, "EXAMPLES");
            for line in examples {
                assert!(
                    rendered.contains(line.trim()),
                    "{name}: no example {line:?} in {page}"
                );
            }
        }
    }

    // route's page, by hand: what a reader looks for.
    let route = man(out_dir.join("mxkit-route.1").to_str().unwrap(), None);
    let options = section(&route, "OPTIONS");
    assert!(options.contains("--json"), "{route}");
    assert!(
        spaced(options).contains("--json Print one JSON object instead of text"),
        "{route}"
    );
    assert!(
        squeeze(section(&route, "EXIT STATUS")).contains("64usageerror"),
        "{route}"
    );
    assert!(
        section(&route, "EXAMPLES").contains("mxkit route example.org --json"),
        "{route}"
    );
    assert!(section(&route, "SEE ALSO").contains("mxkit(1)"), "{route}");
    // mxkit(1) names every page of a subcommand.
    let top = man(out_dir.join("mxkit.1").to_str().unwrap(), None);
    for words in subcommands.iter().filter(|w| w.len() == 1) {
        let reference = format!("{}(1)", page_name(words));
        assert!(top.contains(&reference), "no {reference} in {top}");
    }
}

#[test]
fn one_page_on_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    stdout_of(&["man", "--dir", dir.path().to_str().unwrap()]);
    for (args, file) in [
        (&["man"][..], "mxkit.1"),
        (&["man", "route"][..], "mxkit-route.1"),
        (&["man", "trap", "run"][..], "mxkit-trap-run.1"),
    ] {
        let page = stdout_of(args);
        let written = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert_eq!(page, written, "mxkit {args:?}");
    }
    let rendered = man("-", Some(stdout_of(&["man", "scan-merge"]).as_bytes()));
    assert!(rendered.starts_with("mxkit-scan-merge(1)"), "{rendered}");

    for (args, needle) in [
        (&["man", "rout"][..], "did you mean 'route'?"),
        (
            &["man", "trap", "rum"][..],
            "'mxkit trap' has no such subcommand",
        ),
        (&["man", "route", "--dir", "x"][..], "cannot be used with"),
    ] {
        let out = mxkit().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", text(&out));
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// `--dir` that cannot be created: exit 3, nothing written.
#[test]
fn a_dir_that_cannot_be_made_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let target = file.join("man1");
    let out = mxkit()
        .args(["man", "--dir", target.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("mxkit: error: --dir "), "{err}");
}

/// What bash's completion offers for `words` (the last one being typed),
/// for each list of words: the bash script is written to a file, sourced
/// by a bash that reads no start-up file, and its function (the one
/// `complete -p mxkit` names) called as bash calls it.
fn bash_complete(cases: &[&[&str]]) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("mxkit.bash");
    std::fs::write(&script, stdout_of(&["completions", "bash"])).unwrap();
    let mut program = String::from(
        r#"source "$1" || { echo "sourcing failed" >&2; exit 10; }
spec="$(complete -p mxkit)" || { echo "no completion for mxkit" >&2; exit 11; }
f="${spec##*-F }"; f="${f%% *}"
comp() {
    COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
    COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    local prev=""
    (( COMP_CWORD > 0 )) && prev="${COMP_WORDS[COMP_CWORD - 1]}"
    "$f" mxkit "${COMP_WORDS[COMP_CWORD]}" "$prev"
    echo "${COMPREPLY[*]}"
}
"#,
    );
    for words in cases {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        program.push_str(&format!("comp {}\n", quoted.join(" ")));
    }
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program, "bash"])
        .arg(&script)
        .env_remove("BASH_ENV")
        .env_remove("ENV")
        .output()
        .expect("bash could not be started");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "bash: {}",
        text(&out)
    );
    let replies: Vec<Vec<String>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert_eq!(replies.len(), cases.len(), "{replies:?}");
    replies
}

#[test]
fn bash_completion_sources_cleanly_and_completes() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["mxkit", "ro"], &["route"]),
        (&["mxkit", "sc"], &["scan", "scan-merge"]),
        (&["mxkit", "trap", "ru"], &["run"]),
        (&["mxkit", "route", "--js"], &["--json"]),
        (
            &["mxkit", "check", "x", "--format", ""],
            &["text", "json", "nagios"],
        ),
        (&["mxkit", "completions", "z"], &["zsh"]),
    ];
    let words: Vec<&[&str]> = cases.iter().map(|(w, _)| *w).collect();
    let replies = bash_complete(&words);
    for ((words, want), got) in cases.iter().zip(&replies) {
        for w in *want {
            assert!(got.iter().any(|g| g == w), "{words:?}: {w} not in {got:?}");
        }
    }
    // `ro` is route alone: no other subcommand starts so.
    assert_eq!(replies[0], ["route"]);
}

#[test]
fn every_shell_script_names_every_subcommand() {
    let names: BTreeSet<String> = subcommands()
        .into_iter()
        .filter_map(|w| w.last().cloned())
        .collect();
    assert!(
        names.contains("scan-merge") && names.contains("run"),
        "{names:?}"
    );
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(&["completions", shell]);
        assert!(script.len() > 1000, "{shell}: {script}");
        for name in &names {
            assert!(script.contains(name.as_str()), "{shell}: no {name}");
        }
    }
    assert!(stdout_of(&["completions", "zsh"]).starts_with("#compdef mxkit"));

    // The shells themselves, only where installed (not required).
    let dir = tempfile::tempdir().unwrap();
    for (shell, check) in [("zsh", "-n"), ("fish", "--no-execute")] {
        if std::process::Command::new(shell)
            .arg("--version")
            .output()
            .is_err()
        {
            continue;
        }
        let file = dir.path().join(format!("mxkit.{shell}"));
        std::fs::write(&file, stdout_of(&["completions", shell])).unwrap();
        let out = std::process::Command::new(shell)
            .arg(check)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{shell} -n: {}",
            text(&out)
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = mxkit().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bash, elvish, fish, powershell, zsh"), "{err}");
    assert!(err.contains("'mxkit completions --help'"), "{err}");
}

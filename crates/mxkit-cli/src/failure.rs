//! How a run that fails says so: one line on standard error, the exit code
//! and, when the output asked for is for a program (`--json`, `check
//! --format json|nagios`), one line on standard output that the program can
//! show instead of nothing.
//!
//! Words: a **usage error** is a problem with what was typed or given
//! (flags, addresses, files; exit 64); any other failure is temporary
//! (exit 3). The one exception: `--format nagios` exits 3 (UNKNOWN) for a
//! usage error too, since the Nagios plugin API reserves 3 for "invalid
//! command line arguments" and Nagios replaces the output of a plugin that
//! exits with anything above 3 by "(Return code of 64 is out of bounds)",
//! so the reason would never be seen (docs/check.md, "Nagios / Icinga").
//!
//! Text the user gave is echoed once and cut to a readable length
//! ([`MAX_ECHO`]); control characters are escaped ([`output::sanitize`]).

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::CommandFactory;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use serde::Serialize;

use crate::args::{Command, FormatArg};
use crate::output;
use crate::{Usage, exit};

/// Longest echo of something the user gave, in characters. Enough for the
/// addresses and host names people type (a host name is at most 253
/// characters, but nearly all are under 100) and for most paths, so that
/// the line stays within about two terminal lines; a longer echo keeps its
/// start and its end (where a path has its file name and an address its
/// domain), and says how much was cut.
pub const MAX_ECHO: usize = 100;
/// Characters kept from the start of an over-long echo ...
const ECHO_HEAD: usize = 60;
/// ... and from its end.
const ECHO_TAIL: usize = 30;

/// The output format a failure is reported in, besides standard error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Standard error only.
    Text,
    /// Also one JSON object on standard output.
    Json,
    /// The Nagios status line on standard output instead (exit 3, UNKNOWN).
    Nagios,
}

impl Format {
    /// The format a parsed command asked for. `scan` keeps its JSON Lines
    /// for results only (one line per input line, nothing else), and the
    /// trap's commands, `completions` and `man` report failures as text.
    pub fn of(command: &Command) -> Format {
        let json = |yes: bool| if yes { Format::Json } else { Format::Text };
        match command {
            Command::Route(a) => json(a.json),
            Command::Probe(a) => json(a.smtp.json),
            Command::Send(a) => json(a.smtp.json),
            Command::Check(a) => match a.format {
                FormatArg::Text => Format::Text,
                FormatArg::Json => Format::Json,
                FormatArg::Nagios => Format::Nagios,
            },
            Command::Scan(_)
            | Command::ScanMerge(_)
            | Command::Trap(_)
            | Command::Serve(_)
            | Command::Completions(_)
            | Command::Man(_) => Format::Text,
        }
    }

    /// The format asked for in a command line that clap refused: the same
    /// rules as [`Format::of`], read from the words as typed (`--json`,
    /// `--format json|nagios`, `--format=...`), up to a `--`.
    pub fn sniff(argv: &[OsString]) -> Format {
        let words: Vec<&str> = argv
            .iter()
            .skip(1)
            .map(|w| w.to_str().unwrap_or(""))
            .take_while(|w| *w != "--")
            .collect();
        let command = words.iter().find(|w| !w.starts_with('-')).copied();
        match command {
            Some("route" | "probe" | "send") if words.contains(&"--json") => Format::Json,
            Some("check") => {
                let mut format = Format::Text;
                for (i, w) in words.iter().enumerate() {
                    let value = match w.strip_prefix("--format") {
                        Some("") => words.get(i + 1).copied(),
                        Some(rest) => rest.strip_prefix('='),
                        None => None,
                    };
                    format = match value {
                        Some("json") => Format::Json,
                        Some("nagios") => Format::Nagios,
                        Some(_) => Format::Text,
                        None => format,
                    };
                }
                format
            }
            _ => Format::Text,
        }
    }
}

/// The subcommand a command line is for, as typed before its help:
/// `mxkit`, `mxkit route`, `mxkit trap list`: the words that name
/// subcommands, one level after the other, flags skipped.
fn subcommand(argv: &[OsString]) -> String {
    let mut command = crate::args::Cli::command();
    let mut path = vec!["mxkit".to_string()];
    for word in argv.iter().skip(1).filter_map(|w| w.to_str()) {
        if word == "--" {
            break;
        }
        if word.starts_with('-') {
            continue;
        }
        match command.find_subcommand(word) {
            Some(sub) => {
                path.push(word.to_string());
                command = sub.clone();
            }
            None => break,
        }
    }
    path.join(" ")
}

/// A failure, ready to report.
#[derive(Debug)]
pub struct Failure {
    /// A usage error (exit 64), or another failure (exit 3).
    pub usage: bool,
    /// What went wrong, in one line (not yet sanitized nor cut).
    pub message: String,
    /// The help to read, as a command (`mxkit route --help`).
    pub help: Option<String>,
}

impl Failure {
    /// From what a subcommand returned.
    pub fn from_error(e: &anyhow::Error) -> Failure {
        Failure {
            usage: e.downcast_ref::<Usage>().is_some(),
            message: format!("{e:#}"),
            help: None,
        }
    }

    /// From clap: the message with what it names (the missing arguments,
    /// the possible values), the closest valid spelling when there is one,
    /// and the help of the subcommand concerned.
    pub fn from_clap(e: &clap::Error, argv: &[OsString]) -> Failure {
        let rendered = e.render().to_string();
        let mut paragraphs = rendered.split("\n\n").map(str::trim_end);
        let mut message = String::new();
        for (i, line) in paragraphs.next().unwrap_or_default().lines().enumerate() {
            let line = line.trim();
            if i == 0 {
                message.push_str(line.trim_start_matches("error:").trim_start());
            } else if !line.is_empty() {
                // Continuation lines: the items of a list ("...: <ARG>"),
                // or "[possible values: ...]".
                let sep = if message.ends_with(':') || line.starts_with('[') {
                    " "
                } else {
                    ", "
                };
                message.push_str(sep);
                message.push_str(line);
            }
        }
        if message.is_empty() {
            message = "invalid arguments".into();
        }
        let suggestions: Vec<String> = [
            ContextKind::SuggestedSubcommand,
            ContextKind::SuggestedArg,
            ContextKind::SuggestedValue,
        ]
        .into_iter()
        .filter_map(|k| e.get(k))
        .flat_map(|v| match v {
            ContextValue::String(s) => vec![s.clone()],
            ContextValue::Strings(v) => v.clone(),
            _ => Vec::new(),
        })
        .collect();
        if !suggestions.is_empty() {
            let quoted: Vec<String> = suggestions.iter().map(|s| format!("'{s}'")).collect();
            message.push_str(&format!("; did you mean {}?", quoted.join(" or ")));
        }
        let command = subcommand(argv);
        Failure {
            usage: true,
            message,
            help: Some(format!("{command} --help")),
        }
    }

    /// The exit code: 64 for a usage error, else 3; `--format nagios`: 3
    /// (UNKNOWN) for both.
    fn code(&self, format: Format) -> u8 {
        if self.usage && format != Format::Nagios {
            exit::USAGE
        } else {
            exit::TEMPORARY
        }
    }

    /// The one line for people.
    fn line(&self) -> String {
        let mut line = cut_words(&output::sanitize(&self.message));
        if let Some(help) = &self.help {
            line.push_str(&format!(" (see '{help}')"));
        }
        line
    }

    /// Report it in `format` and return the exit code.
    pub fn report(&self, format: Format) -> ExitCode {
        let line = self.line();
        match format {
            Format::Nagios => {
                // The plugin's output is standard output; Nagios shows the
                // first line, and `|` would start the performance data.
                let kind = if self.usage { "usage error: " } else { "" };
                let text = output::check::nagios_text(&format!("{kind}{line}"));
                let _ = writeln!(io::stdout(), "MXKIT CHECK UNKNOWN - {text}");
            }
            Format::Json => {
                let doc = ErrorJson {
                    status: "error",
                    error: ErrorBody {
                        code: if self.usage { "usage" } else { "temporary" },
                        message: &line,
                    },
                };
                if let Ok(text) = serde_json::to_string(&doc) {
                    let _ = writeln!(io::stdout(), "{text}");
                }
                let _ = writeln!(io::stderr(), "mxkit: error: {line}");
            }
            Format::Text => {
                let _ = writeln!(io::stderr(), "mxkit: error: {line}");
            }
        }
        ExitCode::from(self.code(format))
    }
}

/// The JSON line of a failure: `{"status":"error","error":{"code":
/// "usage"|"temporary","message":"..."}}`.
#[derive(Serialize)]
struct ErrorJson<'a> {
    status: &'static str,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    /// `usage` (exit 64) or `temporary` (exit 3).
    code: &'static str,
    /// The line printed on standard error.
    message: &'a str,
}

impl Usage {
    /// "`FLAG` `VALUE`: `REASON`" (or "`VALUE`: `REASON`" without a flag),
    /// the value quoted and cut to [`MAX_ECHO`]. The value is not echoed
    /// when the reason already quotes all of it, nor when it is over-long
    /// and the reason quotes an over-long part of it (a label, a local
    /// part): once is enough.
    pub fn about(flag: Option<&str>, value: &str, reason: impl std::fmt::Display) -> Usage {
        let reason = reason.to_string();
        let quotes_all = reason.contains(&format!("{value:?}"));
        let quotes_long_part = value.chars().count() > MAX_ECHO
            && reason.split(' ').any(|w| w.chars().count() > MAX_ECHO);
        let mut text = flag.unwrap_or_default().to_string();
        if !(quotes_all || quotes_long_part) {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&echo(value));
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&reason);
        Usage(text)
    }
}

/// The valid word closest to `word`, if one is close enough to be what
/// was meant: the measure and threshold clap uses for its own "did you
/// mean" (Jaro similarity above 0.7), so that every suggestion of the
/// command line reads alike.
pub fn closest<'a>(word: &str, valid: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    valid
        .into_iter()
        .map(|v| (strsim::jaro(word, v), v))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| v)
}

/// `value` quoted as Rust's `{:?}` does, cut to [`MAX_ECHO`] characters.
pub fn echo(value: &str) -> String {
    cut(&format!("{value:?}"))
}

/// `text` when it is at most [`MAX_ECHO`] characters; else its start and
/// end with what was cut in between.
pub fn cut(text: &str) -> String {
    let n = text.chars().count();
    if n <= MAX_ECHO {
        return text.to_string();
    }
    let head: String = text.chars().take(ECHO_HEAD).collect();
    let tail: String = text.chars().skip(n - ECHO_TAIL).collect();
    format!(
        "{head}…[{} characters cut]…{tail}",
        n - ECHO_HEAD - ECHO_TAIL
    )
}

/// Every word (text between spaces) of `line` [`cut`]: messages from clap
/// or the library quote what was given, sometimes in part.
pub fn cut_words(line: &str) -> String {
    line.split(' ').map(cut).collect::<Vec<_>>().join(" ")
}

/// Report a clap error: `--help` and `--version` print to standard output
/// and exit 0; a subcommand with nothing after it prints its help on
/// standard error (exit 64); anything else is a [`Failure`].
pub fn clap(e: &clap::Error, argv: &[OsString]) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::from(exit::OK)
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            if Format::sniff(argv) == Format::Text =>
        {
            let _ = e.print();
            ExitCode::from(exit::USAGE)
        }
        _ => Failure::from_clap(e, argv).report(Format::sniff(argv)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("mxkit")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn sniffs_the_machine_formats() {
        let cases: &[(&[&str], Format)] = &[
            (&["check", "x", "--format", "nagios"], Format::Nagios),
            (&["check", "--format=json", "x"], Format::Json),
            (
                &["check", "--format", "json", "--format", "text"],
                Format::Text,
            ),
            (&["check", "x"], Format::Text),
            (&["route", "x", "--json"], Format::Json),
            (&["route", "--", "--json"], Format::Text),
            (&["probe", "--json"], Format::Json),
            (&["scan", "--json"], Format::Text),
            (&["trap", "list", "--json"], Format::Text),
            (&[], Format::Text),
        ];
        for (words, want) in cases {
            assert_eq!(Format::sniff(&argv(words)), *want, "{words:?}");
        }
    }

    #[test]
    fn help_is_the_subcommand_s() {
        assert_eq!(subcommand(&argv(&["rout", "x"])), "mxkit");
        assert_eq!(subcommand(&argv(&["route", "x", "--jsn"])), "mxkit route");
        assert_eq!(
            subcommand(&argv(&["trap", "--json", "list", "x"])),
            "mxkit trap list"
        );
        assert_eq!(subcommand(&argv(&["--", "route"])), "mxkit");
    }

    #[test]
    fn closest_word() {
        let valid = ["single-exchanger", "shared-address", "mx-ttl"];
        assert_eq!(closest("single-exchangr", valid), Some("single-exchanger"));
        assert_eq!(closest("mx-ttl", valid), Some("mx-ttl"));
        assert_eq!(closest("zzzz", valid), None);
    }

    #[test]
    fn long_echoes_keep_both_ends() {
        assert_eq!(cut("short"), "short");
        let long = format!("{}@example.org", "a".repeat(5000));
        let c = cut(&long);
        assert!(c.chars().count() < MAX_ECHO + 30, "{c}");
        assert!(c.starts_with("aaaa") && c.ends_with("a@example.org"), "{c}");
        assert!(c.contains("[4922 characters cut]"), "{c}");
        assert_eq!(cut(&"é".repeat(MAX_ECHO)), "é".repeat(MAX_ECHO));
    }

    #[test]
    fn a_value_the_reason_quotes_is_not_echoed_twice() {
        let u = Usage::about(Some("--rcpt"), "a@b", "invalid address \"a@b\": bad");
        assert_eq!(u.0, "--rcpt: invalid address \"a@b\": bad");
        let u = Usage::about(None, "a..b", "empty label");
        assert_eq!(u.0, "\"a..b\": empty label");
        let u = Usage::about(Some("--self"), "a..b", "empty label");
        assert_eq!(u.0, "--self \"a..b\": empty label");
        let long = format!("x@[{}]", "1".repeat(200));
        let u = Usage::about(None, &long, format!("bad literal [{}]", &long[3..203]));
        assert_eq!(u.0, format!("bad literal [{}]", &long[3..203]));
    }
}

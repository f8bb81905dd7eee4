//! The `mxkit` binary: the only crate that parses flags, prints or exits.
//!
//! Layout: `args` (what was typed, clap), `cmd/*` (one file per subcommand:
//! args -> validated options -> library call -> report), `output/*` (all
//! rendering; JSON from the library's serde types), `exit` (the codes).

mod args;
mod cmd;
mod exit;
mod output;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

/// mimalloc instead of the system allocator: `scan` allocates and frees
/// small objects for every domain and every query, and glibc's malloc was
/// about a sixth of its CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An error in what the user gave us: one line on stderr, exit 64.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    let result = match cli.command {
        args::Command::Route(a) => cmd::route::run(a),
        args::Command::Check(a) => cmd::check::run(a),
        args::Command::Probe(a) => cmd::probe::run(a),
        args::Command::Send(a) => cmd::send::run(a),
        args::Command::Scan(a) => cmd::scan::run(a),
        args::Command::Trap(a) => cmd::trap::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // A reader that went away (`mxkit ... | head`) is success.
            if e.chain().any(|c| {
                c.downcast_ref::<io::Error>()
                    .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::from(exit::OK);
            }
            let code = if e.downcast_ref::<Usage>().is_some() {
                exit::USAGE
            } else {
                exit::TEMPORARY
            };
            let message = output::sanitize(&format!("{e:#}"));
            let _ = writeln!(io::stderr(), "mxkit: error: {message}");
            ExitCode::from(code)
        }
    }
}

/// `--help` and `--version` go to stdout with exit 0; anything else is one
/// line on stderr and exit 64.
fn clap_error(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::from(exit::OK)
            }
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments")
                .trim()
                .trim_start_matches("error: ");
            let _ = writeln!(io::stderr(), "mxkit: error: {first} (see 'mxkit --help')");
            ExitCode::from(exit::USAGE)
        }
    }
}

//! The `mxkit` binary: the only crate that parses flags, prints or exits.
//!
//! Layout: `args` (what was typed, clap), `cmd/*` (one file per subcommand:
//! args -> validated options -> library call -> report), `output/*` (all
//! rendering; JSON from the library's serde types), `exit` (the codes).

#[cfg_attr(feature = "system-allocator", allow(dead_code))]
mod alloc;
mod args;
mod cmd;
mod exit;
mod failure;
mod output;

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: `scan` allocates and frees
/// small objects for every domain and every query, and glibc's malloc was
/// about a sixth of its CPU time (`alloc` says why not `MiMalloc` as is).
/// The feature `system-allocator` leaves it out (`bench/allocations`).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator;

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
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli = match args::Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => return failure::clap(&e, &argv),
    };
    let format = failure::Format::of(&cli.command);
    let result = match cli.command {
        args::Command::Route(a) => cmd::route::run(a),
        args::Command::Check(a) => cmd::check::run(a),
        args::Command::Probe(a) => cmd::probe::run(a),
        args::Command::Send(a) => cmd::send::run(a),
        args::Command::Scan(a) => cmd::scan::run(a),
        args::Command::ScanMerge(a) => cmd::scan_merge::run(a),
        args::Command::Trap(a) => cmd::trap::run(a),
        args::Command::Serve(a) => cmd::serve::run(a),
        args::Command::Completions(a) => cmd::completions::run(a),
        args::Command::Man(a) => cmd::man::run(a),
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
            failure::Failure::from_error(&e).report(format)
        }
    }
}

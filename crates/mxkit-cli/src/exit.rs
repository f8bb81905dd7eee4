//! Exit codes, the same for every subcommand (docs/design.md, "Exit codes"),
//! documented once here and in `--help`.

/// Success: deliverable / clean / accepted.
pub const OK: u8 = 0;
/// `check` found warnings.
pub const WARNING: u8 = 1;
/// Permanent failure: no route, errors found, message bounced.
pub const PERMANENT: u8 = 2;
/// Temporary failure or incomplete: retry later.
pub const TEMPORARY: u8 = 3;
/// Usage error or unreadable input.
pub const USAGE: u8 = 64;

/// The table at the end of `mxkit --help`: what every code means, for
/// every subcommand. Each subcommand's `--help` ends with its own table
/// (the constants below); README.md and docs/ give the same tables.
pub const HELP: &str = "\
Exit codes (each subcommand's --help has its own table):
  0   success: deliverable (route), clean (check), reached or accepted (probe,
      send), completed (scan), every line once (scan-merge), done (trap),
      stopped (serve), written (completions, man)
  1   check found warnings
  2   permanent failure: the mail would bounce (route, probe, send); errors
      found (check)
  3   temporary failure: retry later (route, probe, send); incomplete: a lookup
      failed (check); stopped early (scan); lines without a result (scan-merge);
      the store or a listen address could not be used (trap, serve); a page
      could not be written (man)
  64  usage error or unreadable input (bad flag, malformed address, broken zone
      file); with check --format nagios: 3 (UNKNOWN), as the plugin API says";

/// `mxkit route --help` (README.md, "Exit codes of `route`").
pub const ROUTE: &str = "\
Exit codes:
  0   deliverable
  2   permanent failure: the mail would bounce (null MX, no such domain, no
      usable exchanger, mail loops back to this host)
  3   temporary failure: retry later (a DNS lookup failed now, no primary relay
      could be found)
  64  usage error or unreadable input (bad flag, malformed address, broken zone
      file)";

/// `mxkit check --help` (docs/check.md, "Exit codes").
pub const CHECK: &str = "\
Exit codes:
  0   clean (notices and info only)
  1   warnings (with --fail-on notice, notices too; with --fail-on error, never)
  2   errors: mail is lost or at risk
  3   incomplete: a lookup failed (SERVFAIL, timeout), some rules could not be
      decided; with --format nagios also a usage error (UNKNOWN, as the plugin
      API says)
  64  usage error or unreadable input (bad flag, unknown rule id, broken zone
      file)";

/// `mxkit scan-merge --help` (docs/scan.md, "Joining the shards").
pub const SCAN_MERGE: &str = "\
Exit codes:
  0   every input line has exactly one result, written in input order
  3   some input lines have no result (a shard is not finished): the others
      are written; rerun the shards named with --resume, then merge again
  64  usage error or unreadable input, a result for a line that is not in the
      input (or whose input differs), or a line with two results: nothing is
      written";

/// `mxkit probe --help` (docs/smtp.md, "Exit codes").
pub const PROBE: &str = "\
Exit codes:
  0   a candidate reached the stage (--all: every candidate did)
  2   permanent: no route, or a 5xx where it is final
  3   temporary: every candidate failed softly (--all: some candidate failed)
  64  usage error (bad address or flag, unusable --ca-file, bad --helo), before
      any network work";

/// `mxkit send --help` (docs/smtp.md, "Exit codes").
pub const SEND: &str = "\
Exit codes:
  0   accepted by an exchanger of every recipient domain
  2   bounced: a 5xx where it is final, or no route
  3   deferred: every candidate failed softly, or the connection was lost after
      the message was sent
  64  usage error (bad address, unreadable message or one over --max-size)";

/// `mxkit scan --help` (README.md, "mxkit scan").
pub const SCAN: &str = "\
Exit codes:
  0   the run completed: every input line has its output line (whatever the
      outcomes, timeouts included)
  3   the run stopped early: no usable reply from any DNS server for 30 s (or
      twice the longest a question can wait, when longer) while queries were
      sent, or the input could not be read to its end; the lines written are
      complete, rerun with --output FILE --resume to finish
  64  usage error or unreadable input (bad flag, missing file or a directory,
      broken zone file, --output or --stats naming the input or each other,
      --output not a scan output of this input when resuming, an input line
      over 1 MiB)";

/// `mxkit trap --help` and its subcommands' (docs/trap.md).
pub const TRAP: &str = "\
Exit codes:
  0   done (trap run: stopped by SIGTERM or Ctrl-C)
  3   the store or a listen address could not be used
  64  usage error (bad flag, address, format or configuration key, a store that
      does not exist)";

/// `mxkit serve --help`.
pub const SERVE: &str = "\
Exit codes:
  0   stopped by SIGTERM or SIGINT after the running requests finished
  3   a listen address could not be used (in use, not this host's), or the
      --trap-store or --store cannot be opened
  64  usage error (bad flag, broken zone file)";

/// `mxkit completions --help`.
pub const COMPLETIONS: &str = "\
Exit codes:
  0   the script was written
  64  usage error (a shell mxkit has no script for, a bad flag)";

/// `mxkit man --help`.
pub const MAN: &str = "\
Exit codes:
  0   the page was printed, or every page written
  3   a page could not be written (--dir could not be created, or a file in
      it written)
  64  usage error (a subcommand mxkit does not have, a bad flag)";

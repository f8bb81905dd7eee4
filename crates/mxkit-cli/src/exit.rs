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

/// The table shown at the end of `--help`.
pub const HELP: &str = "\
Exit codes (all subcommands):
  0   success: deliverable (route), clean (check)
  1   check found warnings
  2   permanent failure: the mail would bounce (route); errors found (check)
  3   temporary failure: retry later (route); incomplete: a lookup failed (check)
  64  usage error or unreadable input (bad flag, malformed address, broken zone file);
      with check --format nagios: 3 (UNKNOWN), as the plugin API says";

//! Exit codes, the same for every subcommand (DESIGN.md), documented once
//! here and in `--help`.

/// Success: deliverable / clean / accepted.
pub const OK: u8 = 0;
/// `check` found warnings.
#[allow(dead_code)]
pub const WARNING: u8 = 1;
/// Permanent failure: no route, errors found, message bounced.
pub const PERMANENT: u8 = 2;
/// Temporary failure or incomplete: retry later.
pub const TEMPORARY: u8 = 3;
/// Usage error or unreadable input.
pub const USAGE: u8 = 64;

/// The table shown at the end of `--help`.
pub const HELP: &str = "\
Exit codes:
  0   deliverable (route), success
  2   permanent failure: the mail would bounce (null MX, no such domain, no usable exchanger, loop)
  3   temporary failure: retry later (DNS failed now, no primary relay)
  64  usage error or unreadable input (bad flag, malformed address, broken zone file)";

//! What was typed: clap structs only. `cmd::*` turns them into validated
//! values; nothing past that sees clap (two-stage parsing, as in ripgrep).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// mxkit: where does mail for an address go?
///
/// Decides delivery exactly as RFC 5321 section 5.1 and the best MTAs do:
/// MX records by preference, implicit MX, null MX (RFC 7505), temporary
/// versus permanent DNS failures.
#[derive(Parser, Debug)]
#[command(name = "mxkit", version, after_help = crate::exit::HELP, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// The delivery plan for an address: MX records, candidates in the order a
    /// sender tries them, and the verdict.
    #[command(after_help = ROUTE_HELP)]
    Route(RouteArgs),
    /// Audit a domain's mail DNS, live or from a zone file before it is
    /// published: findings with ids, severities, evidence and fixes.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
}

const CHECK_HELP: &str = "\
Examples:
  mxkit check example.org
  mxkit check example.org --zone example.org.zone            (before publishing: also shows what changes)
  mxkit check example.org --zone example.org.zone --offline  (the file alone)
  mxkit check example.org --format nagios --set single-exchanger=ignore

Exit codes:
  0   clean (notices and info only)
  1   warnings
  2   errors: mail is lost or at risk
  3   incomplete: a lookup failed (SERVFAIL, timeout), some rules could not be decided
  64  usage error or unreadable input (bad flag, unknown rule id, broken zone file)";

const ROUTE_HELP: &str = "\
Examples:
  mxkit route john@example.org
  mxkit route example.org --json
  mxkit route john@example.org --zone examples/example.org.zone --offline --seed 1
  mxkit route user@[192.0.2.1]
  mxkit route example.org --self backup-mx.example.net     (as a backup MX would)

Exit codes:
  0   deliverable
  2   permanent failure: the mail would bounce (null MX, no such domain, no usable exchanger, loop)
  3   temporary failure: retry later (DNS failed now, no primary relay)
  64  usage error or unreadable input (bad flag, malformed address, broken zone file)";

/// `mxkit route`.
#[derive(Args, Debug)]
pub struct RouteArgs {
    /// An address (`user@example.org`, `"quoted local"@example.org`,
    /// `user@[192.0.2.1]`, `user@[IPv6:2001:db8::1]`) or a bare domain.
    /// Unicode domains are converted to A-labels (IDNA2008).
    #[arg(value_name = "ADDRESS|DOMAIN")]
    pub address: String,

    /// Where DNS answers come from.
    #[command(flatten)]
    pub dns: DnsArgs,

    /// Address families the sender can use (RFC 3974: an exchanger with no
    /// address in a usable family is unusable).
    #[arg(long, value_enum, default_value_t = FamilyArg::Any)]
    pub family: FamilyArg,

    /// A name or address of the host we act for, as a backup MX would:
    /// drops that preference level and every higher number (RFC 5321 section
    /// 5.1). Repeatable. Loopback addresses always count as self.
    #[arg(long = "self", value_name = "NAME|IP")]
    pub self_: Vec<String>,

    /// Keep at most N addresses in the plan, keeping both address families
    /// (Postfix uses 5). Default: no limit.
    #[arg(long, value_name = "N")]
    pub address_limit: Option<usize>,

    /// Seed for the shuffle of equal preferences, for reproducible output.
    /// Without it the order of equal preferences is random, as RFC 5321 requires.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Accept an MX record that names an IP address (Postfix does, with a
    /// warning). By default such a record is unusable: RFC 5321 section 5.1
    /// says it MUST name a host.
    #[arg(long)]
    pub allow_ip_mx: bool,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--family`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyArg {
    /// IPv4 and IPv6.
    Any,
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

/// The DNS flags shared by `route` and `check`.
#[derive(Args, Debug)]
pub struct DnsArgs {
    /// Ask these resolvers (IP or IP:PORT, repeatable) instead of the ones in
    /// /etc/resolv.conf.
    #[arg(long = "server", value_name = "IP[:PORT]")]
    pub servers: Vec<String>,

    /// Load a master-format zone file (RFC 1035 section 5) as authoritative
    /// data that overrides DNS for every name inside it: try a zone before
    /// publishing it. Repeatable.
    #[arg(long = "zone", value_name = "FILE")]
    pub zones: Vec<PathBuf>,

    /// Ask no server: names outside every loaded zone count as unresolvable
    /// (a temporary failure), and the output says so.
    #[arg(long)]
    pub offline: bool,

    /// Seconds to wait for each DNS reply before trying again. Default: 2
    /// with --server (3 rounds over the servers), else resolv.conf's
    /// `options timeout:N attempts:N` (glibc's 5 and 2 when absent).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

/// `mxkit check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The domain to audit (Unicode domains are converted to A-labels).
    #[arg(value_name = "DOMAIN", required_unless_present = "list_rules")]
    pub domain: Option<String>,

    /// Where DNS answers come from.
    #[command(flatten)]
    pub dns: DnsArgs,

    /// Output format: text for people, json (one object), nagios (a
    /// monitoring-plugins status line with perfdata, then details).
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,

    /// Lowest severity that makes the exit code non-zero: warning (default:
    /// warnings exit 1), error (warnings exit 0), or notice (notices exit 1 too).
    #[arg(long, value_enum, default_value_t = FailOnArg::Warning)]
    pub fail_on: FailOnArg,

    /// Re-grade a rule or switch it off: ID=error|warning|notice|info|ignore.
    /// Repeatable. `--list-rules` shows the ids.
    #[arg(long = "set", value_name = "ID=SEVERITY")]
    pub set: Vec<String>,

    /// Skip the SMTP rules (port 25 reachability, banner, STARTTLS). Accepted
    /// for scripts; this version's rules are all DNS rules.
    #[arg(long)]
    pub no_smtp: bool,

    /// Print every rule (id, default severity, catalogue row, source) and exit.
    #[arg(long)]
    pub list_rules: bool,
}

/// `--format`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    /// Grouped by severity, for people.
    Text,
    /// One JSON object.
    Json,
    /// Monitoring-plugins status line, perfdata, details.
    Nagios,
}

/// `--fail-on`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOnArg {
    /// Errors exit 2, warnings 1.
    Warning,
    /// Only errors count (exit 2).
    Error,
    /// Errors exit 2, warnings and notices 1.
    Notice,
}

//! What was typed: clap structs only. `cmd::*` turns them into validated
//! values; nothing past that sees clap (two-stage parsing, as in ripgrep).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit;

/// mxkit: where does mail for an address go?
///
/// Decides delivery exactly as RFC 5321 section 5.1 and the best MTAs do:
/// MX records by preference, implicit MX, null MX (RFC 7505), temporary
/// versus permanent DNS failures.
#[derive(Parser, Debug)]
#[command(name = "mxkit", version, after_help = exit::HELP, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The end of a subcommand's `--help`: its examples, then its exit codes
/// (from [`exit`], where every table is).
fn help(examples: &str, exit_codes: &str) -> String {
    format!("{examples}\n\n{exit_codes}")
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// The delivery plan for an address: MX records, candidates in the order a
    /// sender tries them, and the verdict.
    #[command(after_help = help(ROUTE_EXAMPLES, exit::ROUTE))]
    Route(RouteArgs),
    /// Audit a domain's mail DNS, live or from a zone file before it is
    /// published: findings with ids, severities, evidence and fixes.
    #[command(after_help = help(CHECK_EXAMPLES, exit::CHECK))]
    Check(CheckArgs),
    /// Walk the plan over SMTP as a sending server does: connect, greeting,
    /// EHLO, STARTTLS, stopping at the stage asked for; every attempt and why
    /// the walk moved on.
    #[command(after_help = help(PROBE_EXAMPLES, exit::PROBE))]
    Probe(ProbeArgs),
    /// Deliver one message directly to the recipients' exchangers, along the
    /// same walk (no relay, no queue: one try now).
    #[command(after_help = help(SEND_EXAMPLES, exit::SEND))]
    Send(SendArgs),
    /// Route every domain (or address) of a file, one per line, as fast as
    /// the resolver allows: one JSON line per input line, nothing lost,
    /// resumable.
    #[command(after_help = help(SCAN_EXAMPLES, exit::SCAN))]
    Scan(ScanArgs),
    /// Join the outputs of `scan --shard K/N` runs into input order, and
    /// prove that every input line was routed exactly once.
    #[command(name = "scan-merge", after_help = help(SCAN_MERGE_EXAMPLES, exit::SCAN_MERGE))]
    ScanMerge(ScanMergeArgs),
    /// A decoy lowest-priority MX: records who connects to it without trying
    /// a real MX first, correlates with the real MX hosts' Postfix logs, and
    /// publishes graded blocklists for Postfix, rspamd, DNSBL and nftables.
    #[command(after_help = help(TRAP_EXAMPLES, exit::TRAP))]
    Trap(TrapArgs),
    /// A self-hosted web page, JSON API and Prometheus exporter over the
    /// same routing and checks: one box for a domain or an address,
    /// `/api/v1/route` and `/api/v1/check` (the `--json` of the commands),
    /// `/probe` for Prometheus.
    #[command(after_help = help(SERVE_EXAMPLES, exit::SERVE))]
    Serve(ServeArgs),
    /// Print the completion script of a shell (bash, zsh, fish, elvish,
    /// powershell), generated from the same definitions as `--help`.
    #[command(after_help = help(COMPLETIONS_EXAMPLES, exit::COMPLETIONS))]
    Completions(CompletionsArgs),
    /// Print a manual page (roff), or write them all: mxkit(1) and one per
    /// subcommand, generated from the same definitions as `--help`.
    #[command(after_help = help(MAN_EXAMPLES, exit::MAN))]
    Man(ManArgs),
}

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  mxkit completions bash > /etc/bash_completion.d/mxkit
  mxkit completions bash > ~/.local/share/bash-completion/completions/mxkit
  mxkit completions zsh > ~/.zfunc/_mxkit
      (with fpath+=~/.zfunc before compinit in ~/.zshrc)
  mxkit completions fish > ~/.config/fish/completions/mxkit.fish

The script completes subcommands, flags and the values mxkit knows (--format,
--tls, ...). Installing it again after an upgrade keeps it in step.";

/// `mxkit completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

const MAN_EXAMPLES: &str = "\
Examples:
  mxkit man | man -l -                     (read mxkit(1) now)
  mxkit man trap run | man -l -            (mxkit-trap-run(1))
  mxkit man --dir /usr/local/share/man/man1
  mxkit man --dir ~/.cargo/share/man/man1  (beside cargo install's ~/.cargo/bin)

With --dir, the pages are mxkit.1, mxkit-route.1, mxkit-check.1, ...,
mxkit-trap.1, mxkit-trap-run.1, ...: one for each subcommand, each with its
options, exit codes and examples; their paths are printed, one per line.";

/// `mxkit man`.
#[derive(Args, Debug)]
pub struct ManArgs {
    /// The subcommand whose page to print (`route`, `trap run`); nothing:
    /// mxkit(1).
    #[arg(value_name = "SUBCOMMAND", conflicts_with = "dir")]
    pub page: Vec<String>,

    /// Write every page into DIR (created when missing) instead, replacing
    /// pages of the same names.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

const SERVE_EXAMPLES: &str = "\
Examples:
  mxkit serve                                   (http://127.0.0.1:8025/)
  mxkit serve --zone examples/example.org.zone --offline
  mxkit serve --listen 127.0.0.1:8025 --listen [::1]:8025 --rate 60
  curl 'http://127.0.0.1:8025/api/v1/route?address=postmaster@example.org'
  curl 'http://127.0.0.1:8025/probe?target=example.org&module=check'

Pages, API, metrics and the limits: docs/serve.md.";

/// `mxkit serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Listen on this address and port (repeatable). Put a reverse proxy
    /// with TLS in front for anything but loopback (docs/serve.md).
    #[arg(
        long = "listen",
        value_name = "ADDR:PORT",
        default_value = "127.0.0.1:8025"
    )]
    pub listen: Vec<String>,

    /// Where DNS answers come from.
    #[command(flatten)]
    pub dns: DnsArgs,

    /// Work requests (routes, checks, probes, API calls) running at once;
    /// past it: 503 with Retry-After, never a queue.
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_concurrent: u32,

    /// Do not probe the exchangers over SMTP (checks skip the SMTP rules;
    /// `/probe?module=smtp` is refused).
    #[arg(long)]
    pub no_smtp: bool,

    /// Let SMTP probes and MTA-STS fetches connect to this network too
    /// (repeatable; e.g. 127.0.0.0/8, 10.0.0.0/8, fd00::/8). Without it the
    /// server connects only to global addresses: a public checker must not
    /// be aimed at the network it runs in.
    #[arg(long = "allow-probe", value_name = "CIDR")]
    pub allow_probe: Vec<String>,

    /// MTA-STS and trust anchors.
    #[command(flatten)]
    pub secure: SecureArgs,

    /// Show the trap's listings, recent decoy sessions and charts at
    /// `/trap`, and its metrics on `/metrics`, read from this store
    /// (`sqlite:PATH` or `postgres://...`, as `mxkit trap`'s; it must
    /// exist, and is only read).
    #[arg(long = "trap-store", value_name = "URL")]
    pub trap_store: Option<String>,

    /// Keep every page shown, with a permalink (`/r/ID`), in this store
    /// (`sqlite:PATH` or `postgres://...`; created when missing; the same
    /// PostgreSQL database serves several servers behind one balancer);
    /// `none`: keep nothing. Default: `sqlite:` a file `serve.db` in
    /// $XDG_DATA_HOME/mxkit, else ~/.local/share/mxkit.
    #[arg(long, value_name = "URL|none")]
    pub store: Option<String>,

    /// The server's public address (`https://mxkit.example.org`), for
    /// permalinks that work when copied elsewhere; without it, permalinks
    /// are paths (`/r/ID`).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Drop kept pages after this many days.
    #[arg(long, value_name = "N", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub keep_days: u32,

    /// Work requests one client network (its /24, or /64 for IPv6) may
    /// start per minute; past it: 429 with Retry-After.
    #[arg(long, value_name = "PER_MIN", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate: u32,
}

const TRAP_EXAMPLES: &str = "\
Examples:
  mxkit trap run --config /etc/mxkit/trap.toml
  mxkit trap run --listen 192.0.2.99:25 --listen [2001:db8::99]:25 \\
      --store sqlite:/var/lib/mxkit/trap.db --primary-log /var/log/mail.log \\
      --export postfix-cidr:/var/lib/mxkit/mxtrap.cidr --shadow
  mxkit trap list --store sqlite:/var/lib/mxkit/trap.db
  mxkit trap show 198.51.100.7 --store sqlite:/var/lib/mxkit/trap.db
  mxkit trap allow 203.0.113.0/24 --note \"partner relay\" --store sqlite:/var/lib/mxkit/trap.db

Set-up (DNS records, the Postfix and rspamd lines that read the lists): README.md, \"mxkit trap\".";

/// `mxkit trap`.
#[derive(Args, Debug)]
pub struct TrapArgs {
    #[command(subcommand)]
    pub command: TrapCommand,
}

/// The trap's subcommands.
#[derive(Subcommand, Debug)]
pub enum TrapCommand {
    /// Run the decoy, follow the real MX hosts' logs, decide and export.
    #[command(after_help = exit::TRAP)]
    Run(TrapRunArgs),
    /// The addresses listed now (shadow listings included, marked).
    #[command(after_help = exit::TRAP)]
    List(TrapListArgs),
    /// Everything recorded about one address: listing, decisions, sessions.
    #[command(after_help = exit::TRAP)]
    Show(TrapShowArgs),
    /// Never list an address or network (and withdraw its listing); with
    /// --remove, take it off the allowlist again.
    #[command(after_help = exit::TRAP)]
    Allow(TrapAllowArgs),
    /// Withdraw one address's listing now.
    #[command(after_help = exit::TRAP)]
    Delist(TrapDelistArgs),
    /// Remove expired listings and observations past their retention.
    #[command(after_help = exit::TRAP)]
    Expire(TrapExpireArgs),
    /// Write the current listings in one format, once.
    #[command(after_help = exit::TRAP)]
    Export(TrapExportArgs),
}

/// Where the store is.
#[derive(Args, Debug)]
pub struct TrapStoreArgs {
    /// The store: sqlite:PATH or postgres://USER@HOST/DB (default: the
    /// `store` of --config).
    #[arg(long, value_name = "URL", env = "MXKIT_TRAP_STORE")]
    pub store: Option<String>,

    /// The trap's configuration file (TOML; see contrib/trap.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `mxkit trap run`.
#[derive(Args, Debug)]
pub struct TrapRunArgs {
    #[command(flatten)]
    pub store: TrapStoreArgs,

    /// Listen here (repeatable; IPv6 as [ADDR]:PORT). Default: `listen` of
    /// --config.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<String>,

    /// A real MX host's Postfix log: a file (followed across rotation) or
    /// `journal` (the systemd journal). Repeatable.
    #[arg(long = "primary-log", value_name = "FILE|journal")]
    pub primary_logs: Vec<String>,

    /// Record and report what would be listed; list nothing.
    #[arg(long)]
    pub shadow: bool,

    /// Write a blocklist after every change: FORMAT:PATH, FORMAT one of
    /// rspamd, postfix-cidr, dnsbl-zone, rbldnsd, nftables, json. Repeatable.
    #[arg(long = "export", value_name = "FORMAT:PATH")]
    pub exports: Vec<String>,

    /// Never list these (IP or CIDR, repeatable), besides `mxkit trap allow`.
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<String>,

    /// The host name in the decoy's greeting (default: this host's name).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
}

/// `mxkit trap list`.
#[derive(Args, Debug)]
pub struct TrapListArgs {
    #[command(flatten)]
    pub store: TrapStoreArgs,

    /// Also the expired listings still in the store.
    #[arg(long)]
    pub all: bool,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `mxkit trap show`.
#[derive(Args, Debug)]
pub struct TrapShowArgs {
    /// The client address.
    #[arg(value_name = "IP")]
    pub ip: String,

    #[command(flatten)]
    pub store: TrapStoreArgs,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `mxkit trap delist`.
#[derive(Args, Debug)]
pub struct TrapDelistArgs {
    /// The client address.
    #[arg(value_name = "IP")]
    pub ip: String,

    #[command(flatten)]
    pub store: TrapStoreArgs,
}

/// `mxkit trap expire`.
#[derive(Args, Debug)]
pub struct TrapExpireArgs {
    #[command(flatten)]
    pub store: TrapStoreArgs,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `mxkit trap allow`.
#[derive(Args, Debug)]
pub struct TrapAllowArgs {
    /// An address or network (CIDR).
    #[arg(value_name = "IP|CIDR")]
    pub net: String,

    /// Why (shown by `trap show` and in the allowlist).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub note: String,

    /// Take it off the allowlist instead.
    #[arg(long)]
    pub remove: bool,

    #[command(flatten)]
    pub store: TrapStoreArgs,
}

/// `mxkit trap export`.
#[derive(Args, Debug)]
pub struct TrapExportArgs {
    /// rspamd, postfix-cidr, dnsbl-zone, rbldnsd, nftables or json.
    #[arg(long, value_name = "FORMAT")]
    pub format: String,

    /// Write here, atomically (default: standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub store: TrapStoreArgs,
}

const SCAN_EXAMPLES: &str = "\
Examples:
  mxkit scan domains.txt --server 127.0.0.1 > routes.jsonl
  mxkit scan domains.txt --server 127.0.0.1 --output routes.jsonl --stats stats.json
  mxkit scan domains.txt --server 127.0.0.1 --output routes.jsonl --resume   (after a crash or Ctrl-C)
  zcat big.txt.gz | mxkit scan - --server 127.0.0.1 --window 5000 --rate 50000 > routes.jsonl

Output: one JSON object per line, per input line that is not blank or a
'#' comment, in the order the lookups complete: the keys of 'mxkit route
--json' plus 'line' (1-based input line number) and 'input' (the line as
given). Lines that cannot be routed (over 1024 bytes, not UTF-8, not a
domain) are 'permanent'/'invalid_address'; names whose lookups failed are
'temporary'/'dns_temporary' with the reason.";

const SCAN_MERGE_EXAMPLES: &str = "\
Examples:
  mxkit scan-merge --input domains.txt --output routes.jsonl shard-*.jsonl
  mxkit scan-merge --input domains.txt --shards 16 shard-*.jsonl > routes.jsonl
  mxkit scan-merge --input domains.txt --output sorted.jsonl routes.jsonl   (one run's output in input order)

Every result must be for a line of the input (its 'line' and 'input'), and
no line may have two: otherwise nothing is kept (exit 64). Lines without a
result are counted (with --shards, per shard: rerun that shard with
--resume) and the rest is written (exit 3). The shards' runs are sorted in
chunks of --chunk-mb through temporary files in --temp-dir (some 1.2 times
the shard outputs' size), so memory stays bounded. The distributed recipe
(Kubernetes, Slurm, GNU parallel): docs/scan.md.";

const PROBE_EXAMPLES: &str = "\
Examples:
  mxkit probe example.org                        (walk until one exchanger answers EHLO)
  mxkit probe example.org --all --stop-after starttls --json
  mxkit probe john@example.org --stop-after rcpt --from me@example.net --transcript";

const SEND_EXAMPLES: &str = "\
Examples:
  mxkit send --from me@example.net --to john@example.org < message.eml
  mxkit send --from me@example.net --to john@example.org --subject test   (a short test message)";

const CHECK_EXAMPLES: &str = "\
Examples:
  mxkit check example.org
  mxkit check example.org --zone example.org.zone            (before publishing: also shows what changes)
  mxkit check example.org --zone example.org.zone --offline  (the file alone)
  mxkit check example.org --format nagios --set single-exchanger=ignore
  mxkit check example.org --dnsbl bl.example.net --server 127.0.0.1   (blocklists, through a resolver of your own)";

const ROUTE_EXAMPLES: &str = "\
Examples:
  mxkit route john@example.org
  mxkit route example.org --json
  mxkit route john@example.org --zone examples/example.org.zone --offline --seed 1
  mxkit route user@[192.0.2.1]
  mxkit route example.org --self backup-mx.example.net     (as a backup MX would)";

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

    /// How the plan is built.
    #[command(flatten)]
    pub plan: PlanArgs,

    /// MTA-STS and trust anchors.
    #[command(flatten)]
    pub secure: SecureArgs,

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
    /// (a temporary failure), and the output says so. Needs a --zone (but
    /// for an address literal, which asks no DNS).
    #[arg(long)]
    pub offline: bool,

    /// Seconds to wait for the first DNS reply before trying again (each
    /// later round waits twice as long, up to 8 times this, as glibc
    /// does). Default: 2 with --server (3 rounds over the servers), else
    /// resolv.conf's `options timeout:N attempts:N` (glibc's 5 and 2 when
    /// absent).
    #[arg(long, value_name = "SECONDS")]
    pub dns_timeout: Option<f64>,

    /// DNSSEC status: `ad` asks with the DO bit and takes the resolver's AD
    /// bit as its word that the answer validated (as Postfix and Exim do;
    /// mxkit checks no signature itself), so use a validating resolver on
    /// this host. `off`: no status, hence no DANE.
    #[arg(long, value_enum, default_value_t = DnssecArg::Ad, value_name = "MODE")]
    pub dnssec: DnssecArg,
}

/// The MTA-STS flags and the trust anchors, shared by `route`, `check`,
/// `probe` and `send` (docs/rules/secure.md, Rules S7 to S11).
#[derive(Args, Debug)]
pub struct SecureArgs {
    /// MTA-STS (RFC 8461): `on` looks up the domain's `_mta-sts` record,
    /// fetches its policy over HTTPS (through mxkit's DNS, so --server and
    /// --zone apply; never offline), keeps it in the cache and applies it:
    /// in enforce mode exchangers its mx patterns do not match leave the
    /// plan and the rest need a certificate valid for their name. `off`:
    /// none of this.
    #[arg(long = "mta-sts", value_enum, default_value_t = OnOffArg::On, value_name = "MODE")]
    pub mta_sts: OnOffArg,

    /// Use FILE as DOMAIN's MTA-STS policy instead of fetching it: try a
    /// policy before publishing it (with --zone and --offline, the zone
    /// too). Repeatable.
    #[arg(long = "mta-sts-policy", value_name = "DOMAIN=FILE")]
    pub mta_sts_policy: Vec<String>,

    /// Where fetched policies are kept, one file per domain, for their
    /// max_age (default: $XDG_CACHE_HOME/mxkit/mta-sts, else
    /// ~/.cache/mxkit/mta-sts); `none`: fetch every time, keep nothing.
    #[arg(long = "mta-sts-cache", value_name = "DIR|none")]
    pub mta_sts_cache: Option<String>,

    /// The deadline of one policy fetch, from the DNS question to the last
    /// octet (500ms, 10s, 2m; default 10s).
    #[arg(long = "mta-sts-timeout", value_name = "DUR")]
    pub mta_sts_timeout: Option<String>,

    /// Trust the certificates in this PEM file instead of the built-in
    /// Mozilla roots: for STARTTLS certificates and MTA-STS policy fetches
    /// alike.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
}

/// `--mta-sts`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOffArg {
    /// On.
    On,
    /// Off.
    Off,
}

/// `--dnssec`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnssecArg {
    /// The resolver's AD bit, with the DO bit set in queries.
    Ad,
    /// No DNSSEC status.
    Off,
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

    /// MTA-STS and trust anchors.
    #[command(flatten)]
    pub secure: SecureArgs,

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

    /// Do not connect to the exchangers: skip the SMTP rules (port 25
    /// reachability, greeting, STARTTLS and certificate). They are skipped
    /// offline too, and reported as not run when every connection times out
    /// (outbound port 25 blocked).
    #[arg(long)]
    pub no_smtp: bool,

    /// Look every exchanger address up on this DNS blocklist (its zone,
    /// such as bl.example.net; RFC 5782), through the resolver in use.
    /// Repeatable. None by default: public lists such as Spamhaus forbid
    /// queries through public resolvers (8.8.8.8, 1.1.1.1...) and answer
    /// them with error codes, which are reported as dnsbl-refused, never as
    /// a listing; ask through a resolver of your own. Not offline.
    #[arg(long = "dnsbl", value_name = "ZONE")]
    pub dnsbl: Vec<String>,

    /// Print every rule (id, default severity, catalogue row, source) and exit.
    #[arg(long)]
    pub list_rules: bool,

    /// Wrap the text report at N columns (0: do not wrap). Default: the
    /// terminal's width (COLUMNS when set, 80 when unknown) when standard
    /// output is a terminal; no wrapping otherwise, one line per item.
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
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

/// The routing flags shared by `route`, `probe` and `send`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Address families the sender can use (RFC 3974: an exchanger with no
    /// address in a usable family is unusable).
    #[arg(long, value_enum, default_value_t = FamilyArg::Any)]
    pub family: FamilyArg,

    /// A name or address of the host we act for, as a backup MX would:
    /// drops that preference level and every higher number (RFC 5321 section
    /// 5.1). Repeatable. `route` also counts loopback addresses as self, as an
    /// MTA does; `probe` and `send` count only what is given here.
    #[arg(long = "self", value_name = "NAME|IP")]
    pub self_: Vec<String>,

    /// Keep at most N addresses in the plan, keeping both address families.
    /// Default: no limit for `route` and `probe --all`; 5 for the walks of
    /// `probe` and `send` (Postfix's smtp_mx_address_limit).
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
}

/// The SMTP flags shared by `probe` and `send`.
#[derive(Args, Debug)]
pub struct SmtpArgs {
    /// TLS: policy (the default: what the route requires of each exchanger;
    /// DANE hosts need a certificate their TLSA records match, SNI the TLSA
    /// base name; `dane-encrypt` hosts need TLS with any certificate; hosts
    /// under an MTA-STS policy in enforce mode need a certificate valid for
    /// their name (testing mode: checked and reported only); the rest are
    /// opportunistic; a requirement not met: next address, never
    /// plaintext), off (never STARTTLS), opportunistic (STARTTLS when
    /// offered; on a failed handshake, once more in plaintext on the same
    /// address, flagged), required (no STARTTLS or an untrusted or
    /// mismatched certificate: next address).
    #[arg(long, value_enum, default_value_t = TlsArg::Policy)]
    pub tls: TlsArg,

    /// TCP port of the exchangers.
    #[arg(long, default_value_t = 25)]
    pub port: u16,

    /// The name to send in EHLO (default: this host's name).
    #[arg(long, value_name = "NAME")]
    pub helo: Option<String>,

    /// TCP connect timeout, per address (10s for probe, 30s for send;
    /// 500ms, 10s, 2m).
    #[arg(long, value_name = "DUR")]
    pub connect_timeout: Option<String>,

    /// Timeout for each SMTP stage (default: per stage, as in Postfix for
    /// send, shorter for probe; 500ms, 10s, 2m).
    #[arg(long, value_name = "DUR")]
    pub smtp_timeout: Option<String>,

    /// Print every line sent and received, swaks-style (`->`/`<-` in clear,
    /// `~>`/`<~` inside TLS), with timestamps.
    #[arg(long)]
    pub transcript: bool,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--tls`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsArg {
    /// As the route requires of each exchanger (DANE, MTA-STS, or
    /// opportunistic).
    Policy,
    /// Never STARTTLS.
    Off,
    /// STARTTLS when offered; plaintext once more on a failed handshake.
    Opportunistic,
    /// STARTTLS with a trusted certificate naming the exchanger, or next address.
    Required,
}

/// `--stop-after`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopArg {
    /// TCP connect.
    Connect,
    /// The 220 greeting.
    Greeting,
    /// The first EHLO (with --tls required: STARTTLS and the EHLO after it).
    Ehlo,
    /// STARTTLS and the EHLO after it.
    Starttls,
    /// MAIL FROM.
    Mail,
    /// RCPT TO (never DATA).
    Rcpt,
}

/// `mxkit probe`.
#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// An address or a domain: its plan is walked.
    #[arg(value_name = "ADDRESS|DOMAIN")]
    pub address: String,

    /// Probe every candidate, concurrently, and report each (no failover).
    #[arg(long)]
    pub all: bool,

    /// The stage to reach: connect, greeting, ehlo, starttls, mail, rcpt.
    /// With --tls required a probe never stops before STARTTLS: a candidate
    /// without it is a failure at any stage.
    #[arg(long, value_enum, default_value_t = StopArg::Ehlo)]
    pub stop_after: StopArg,

    /// MAIL FROM for --stop-after mail/rcpt (default: the null sender <>).
    #[arg(long, value_name = "ADDR")]
    pub from: Option<String>,

    /// RCPT TO for --stop-after rcpt (default: the ADDRESS given, when it
    /// has a local part, else postmaster@DOMAIN).
    #[arg(long, value_name = "ADDR")]
    pub rcpt: Option<String>,

    /// Where DNS answers come from.
    #[command(flatten)]
    pub dns: DnsArgs,

    /// How the plan is built.
    #[command(flatten)]
    pub plan: PlanArgs,

    /// SMTP settings.
    #[command(flatten)]
    pub smtp: SmtpArgs,

    /// MTA-STS and trust anchors.
    #[command(flatten)]
    pub secure: SecureArgs,
}

/// `mxkit send`.
#[derive(Args, Debug)]
pub struct SendArgs {
    /// The envelope sender (MAIL FROM); also the From: header when the
    /// message has none.
    #[arg(long, value_name = "ADDR")]
    pub from: String,

    /// A recipient (RCPT TO); repeatable. Recipients are grouped by domain
    /// and each domain gets one walk of its own.
    #[arg(long = "to", value_name = "ADDR", required = true)]
    pub to: Vec<String>,

    /// The message (RFC 5322) from FILE, or `-` for standard input. Without
    /// it, standard input is read when it is not a terminal; otherwise a short
    /// test message is sent.
    #[arg(long, value_name = "FILE|-")]
    pub data: Option<PathBuf>,

    /// Subject: header to add when the message has none.
    #[arg(long, value_name = "TEXT")]
    pub subject: Option<String>,

    /// The largest message, in octets, read and sent (after line endings
    /// become CRLF and missing header fields are added); a larger one is a
    /// usage error (64) before any connection. The default is Postfix's
    /// message_size_limit; at most 1073741824 (the message is held in
    /// memory).
    #[arg(long, value_name = "OCTETS", default_value_t = mxkit::smtp::DEFAULT_MAX_SIZE,
          value_parser = clap::value_parser!(u64).range(1..=mxkit::smtp::MAX_MAX_SIZE))]
    pub max_size: u64,

    /// Where DNS answers come from.
    #[command(flatten)]
    pub dns: DnsArgs,

    /// How the plan is built.
    #[command(flatten)]
    pub plan: PlanArgs,

    /// SMTP settings.
    #[command(flatten)]
    pub smtp: SmtpArgs,

    /// MTA-STS and trust anchors.
    #[command(flatten)]
    pub secure: SecureArgs,
}

/// `mxkit scan`.
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// One domain or address per line (blank lines and '#' comments are
    /// skipped); `-` or nothing: standard input.
    #[arg(value_name = "FILE|-")]
    pub input: Option<PathBuf>,

    /// Ask these resolvers (IP or IP:PORT, repeatable) instead of the ones in
    /// /etc/resolv.conf.
    #[arg(long = "server", value_name = "IP[:PORT]")]
    pub servers: Vec<String>,

    /// Load a zone file as authoritative data over live DNS (as in `route`).
    /// Repeatable.
    #[arg(long = "zone", value_name = "FILE")]
    pub zones: Vec<PathBuf>,

    /// Ask no server: only the --zone files answer.
    #[arg(long)]
    pub offline: bool,

    /// Domains routed at once: a number (1 to 100000), or `auto` (adaptive:
    /// grows while answers come, halves on timeouts and SERVFAIL bursts,
    /// between 64 and 100000).
    #[arg(long, value_name = "N|auto", default_value = "auto")]
    pub window: String,

    /// At most this many DNS queries per second (default: no limit), in
    /// all: every thread's queries count.
    #[arg(long, value_name = "QPS")]
    pub rate: Option<u32>,

    /// Threads that route, each with its own DNS sockets (one cache for
    /// all): 1 to 1024; default: the cores this process may use. The
    /// --window is the total over the threads.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// Route only the input lines whose number modulo N is K (0 <= K < N),
    /// keeping their numbers: N runs of the same input, on any number of
    /// machines, route every line once; `mxkit scan-merge` joins their
    /// outputs. --resume continues a shard's output (with the same --shard).
    #[arg(long, value_name = "K/N", value_parser = |s: &str| s.parse::<mxkit::scan::Shard>())]
    pub shard: Option<mxkit::scan::Shard>,

    /// Wait this long for the first try's reply before trying again
    /// (500ms, 2s); each later round of tries waits twice as long as the
    /// one before, up to 8 times this.
    #[arg(long, value_name = "DUR", default_value = "500ms")]
    pub timeout: String,

    /// Tries after the first, per question (rounds over the servers).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub retries: u32,

    /// Write the JSON lines to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Continue a run into --output FILE: the lines already there are kept
    /// (a partial last line is cut), only the other input lines are routed
    /// and appended. The kept lines must be results for lines of this input
    /// (their `line` and `input`), which must then be a file.
    #[arg(long, requires = "output")]
    pub resume: bool,

    /// How each plan is built (as in `route`).
    #[command(flatten)]
    pub plan: PlanArgs,

    /// Also the DNS half of secure routing: queries with the DO bit, and
    /// the TLSA records of every exchanger with signed addresses (each
    /// line's exchangers then carry `tlsa` and `tls`, docs/rules/secure.md).
    /// Costs a TLSA query per signed exchanger; never any HTTPS.
    #[arg(long)]
    pub secure: bool,

    /// No progress bar (it is shown only when standard error is a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// Also write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        super::Cli::command().debug_assert();
    }

    /// Every subcommand's `--help` ends with its own exit codes, from
    /// `exit`, and `mxkit --help` with the table of all of them.
    #[test]
    fn every_help_ends_with_exit_codes() {
        fn check(command: &mut clap::Command, path: &str) {
            let help = command.render_long_help().to_string();
            let codes = help
                .rfind("Exit codes")
                .unwrap_or_else(|| panic!("{path}: {help}"));
            assert!(
                help[codes..].contains("\n  64  usage error"),
                "{path}: {help}"
            );
            // (clap's own `help` subcommand prints the others' help.)
            for sub in command
                .get_subcommands_mut()
                .filter(|s| s.get_name() != "help")
            {
                let path = format!("{path} {}", sub.get_name());
                check(sub, &path);
            }
        }
        let mut cli = super::Cli::command();
        cli.build();
        check(&mut cli, "mxkit");
    }
}

/// `mxkit scan-merge`.
#[derive(Args, Debug)]
pub struct ScanMergeArgs {
    /// The outputs of the shards (`scan --shard K/N --output FILE`), in any
    /// order; one run's output alone is put in input order.
    #[arg(value_name = "SHARD_OUTPUT", required = true)]
    pub outputs: Vec<PathBuf>,

    /// The input the shards routed (every shard read this same file).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,

    /// Write the merged JSON lines to FILE (replaced only once the merge
    /// succeeds) instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The N of the shards' --shard K/N: missing lines are then counted per
    /// shard.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub shards: Option<u64>,

    /// Where the sorted runs go (default: the --output file's directory,
    /// else the system's temporary directory).
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,

    /// Result lines sorted in memory at once, in MiB (memory is about twice
    /// this).
    #[arg(long, value_name = "MIB", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub chunk_mb: u64,

    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
}

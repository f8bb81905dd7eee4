//! One module per subcommand: typed arguments -> validated options -> library
//! call -> report -> exit code. The flags several share are converted once:
//! `dns` (where answers come from), `plan` (how a plan is built), `smtp`
//! (how a walk talks SMTP), `secure` (MTA-STS and trust anchors); `common` holds the rest they share.

pub mod check;
pub mod common;
pub mod completions;
pub mod dns;
pub mod man;
pub mod plan;
pub mod probe;
pub mod route;
pub mod scan;
pub mod scan_merge;
pub mod secure;
pub mod send;
pub mod serve;
pub mod smtp;
pub mod trap;

//! One module per subcommand: typed arguments -> validated options -> library
//! call -> report -> exit code. `dns` holds the DNS flags they share.

pub mod check;
pub mod dns;
pub mod plan;
pub mod probe;
pub mod route;
pub mod scan;
pub mod send;
pub mod trap;

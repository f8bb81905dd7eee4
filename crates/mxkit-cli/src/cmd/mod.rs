//! One module per subcommand: typed arguments -> validated options -> library
//! call -> report -> exit code.

pub mod route;

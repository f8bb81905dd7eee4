//! The trap: a decoy MX with the strictly highest preference number.
//!
//! A sender that follows RFC 5321 section 5.1 tries the lowest preference
//! number first and reaches the highest one only when the better ones
//! failed. A client that connects to the decoy without having been seen at a
//! real MX host is almost never a legitimate mail server. This crate records
//! who connects to the decoy ([`listener`]), what the real MX hosts saw
//! (Postfix's log, [`logs`]), keeps both in one [`store`] (SQLite on one host,
//! PostgreSQL when several hosts share it), decides graded verdicts
//! ([`detect`]) and writes them as blocklists ([`export`]).
//!
//! It is a crate of its own because its stores pull in SQLite and a
//! PostgreSQL client, which nothing else in mxkit needs.
//!
//! The rule, its windows and guards are those of docs/rules/trap.md, which
//! also says where this implementation departs from the rule's first design
//! and why (as do the module docs).

pub mod config;
pub mod detect;
pub mod dnswatch;
pub mod export;
pub mod health;
pub mod listener;
pub mod logs;
pub mod model;
pub mod run;
pub mod store;

pub use model::{Flags, Grade, Listing, Micros, Observation, Role, Stage};
pub use store::{Store, StoreError};

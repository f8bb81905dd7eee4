//! mxkit: where does mail for an address go?
//!
//! The library behind the `mxkit` tool. It decides delivery the way RFC 5321
//! section 5.1, RFC 7505 (null MX), RFC 2181 and RFC 3974 say and the best MTAs
//! (Postfix, Exim) do. It is async (tokio), never prints and never exits.
//! The rules it applies are numbered and explained in the repository's
//! `docs/rules/route.md` (routing and failover, cited as "Rule N"),
//! `docs/rules/secure.md` (DNSSEC status and DANE, cited as "Rule SN") and
//! `docs/rules/check.md` (the check rules, by id).
//!
//! Crate map:
//! - [`address`]: mailbox and domain parsing, IDN (A-labels), address literals;
//! - [`dns`]: the [`dns::Lookup`] trait, the live engine, zone files, fakes;
//! - [`route`]: domain -> [`route::Route`], the plan or a typed failure;
//! - [`dane`]: TLSA records judged, what DANE requires of an exchanger;
//! - [`check`]: a domain's mail DNS (and exchangers) audited -> findings;
//! - [`dnsbl`]: DNS blocklists (RFC 5782): is an address listed, and does
//!   the list answer at all;
//! - [`smtp`]: the plan walked over SMTP (probe, deliver), TLS, transcripts;
//! - [`scan`]: routing for millions of domains (shared cache, adaptive window);
//! - [`bounded`]: reading untrusted files and streams with a limit.
//!
//! Glossary:
//! - **exchanger** (MX host): the host name an MX record points to;
//!   **preference**: its number, lower is better;
//! - **candidate**: one (preference, exchanger, address) a sender may connect
//!   to; the **plan** is the ordered list of candidates;
//! - **implicit MX**: no MX records (NODATA), so the domain itself is the one
//!   exchanger, preference 0;
//! - **null MX**: `MX 0 .` (RFC 7505), the domain accepts no mail;
//! - **permanent** / **temporary**: every failure is one or the other;
//!   temporary means "retry later", never "bounce".

pub mod address;
pub mod bounded;
pub mod check;
pub mod dane;
pub mod dns;
pub mod dnsbl;
mod english;
mod ip_text;
pub mod mta_sts;
pub mod route;
pub mod scan;
pub mod smtp;
pub mod targets;

//! The store: observations, stream cursors, decisions, listings and the
//! allowlist, in SQLite (one host) or PostgreSQL (several hosts sharing it).
//!
//! Both back ends have the same schema and the same behaviour; the test
//! suite runs every store test against both.
//!
//! PLACEHOLDER API: the bodies are being written (see the issue note).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::{AllowEntry, Decision, Flags, Listing, Micros, Observation, Stage, StreamState};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL {0:?} is neither sqlite:PATH nor postgres://...")]
    Url(String),
    #[error("{0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Who a client is, for clearing suspicion: the exact address, or the same
/// /24 (IPv4) or /64 (IPv6) with the same verified-name domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub ip: IpAddr,
    /// The client's /24 or /64.
    pub net: IpNet,
    /// The domain of its verified name (see [`crate::model::name_domain`]).
    pub name_domain: Option<String>,
}

/// How long things are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Raw observations (default 7 days).
    pub observations: Micros,
    /// Decisions, the evidence for disputes (default 30 days).
    pub decisions: Micros,
}

/// What [`Store::expire`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    pub listings: u64,
    pub observations: u64,
    pub decisions: u64,
}

pub struct Store {}

#[allow(unused_variables)]
impl Store {
    /// Opens (creating the schema if needed) `sqlite:PATH` or `postgres://...`.
    pub async fn open(url: &str) -> Result<Store> {
        todo!()
    }
    /// A session seen at the decoy, durable when this returns; its id.
    pub async fn record(&self, obs: &Observation) -> Result<i64> {
        todo!()
    }
    /// The decoy session `id` got further.
    pub async fn update(
        &self,
        id: i64,
        stage: Stage,
        helo: Option<&str>,
        mail_domain: Option<&str>,
        flags: Flags,
    ) -> Result<()> {
        todo!()
    }
    /// Log events and the stream's new cursor/watermark, in one transaction.
    pub async fn ingest(&self, stream: &StreamState, obs: &[Observation]) -> Result<()> {
        todo!()
    }
    pub async fn stream(&self, name: &str) -> Result<Option<StreamState>> {
        todo!()
    }
    pub async fn streams(&self) -> Result<Vec<StreamState>> {
        todo!()
    }
    /// Decoy observations not yet decided that started at or before `until`, oldest first.
    pub async fn undecided(&self, until: Micros, limit: usize) -> Result<Vec<(i64, Observation)>> {
        todo!()
    }
    /// Whether a real MX host saw this identity in `[from, to]`.
    pub async fn primary_seen(&self, who: &Identity, from: Micros, to: Micros) -> Result<bool> {
        todo!()
    }
    /// Whether a real MX host accepted mail from this identity since `since`.
    pub async fn known_good(&self, who: &Identity, since: Micros) -> Result<bool> {
        todo!()
    }
    /// Primary sessions from clients other than `except` in `[from, to]`.
    pub async fn primary_clients(&self, from: Micros, to: Micros, except: IpAddr) -> Result<u64> {
        todo!()
    }
    /// Decoy decisions made in `[from, to]` with their grades, for the auto-pause ratio.
    pub async fn decisions_between(&self, from: Micros, to: Micros) -> Result<Vec<Decision>> {
        todo!()
    }
    /// Records a decision and, if given, replaces the address's listing: one transaction.
    pub async fn decide(&self, d: &Decision, listing: Option<&Listing>) -> Result<()> {
        todo!()
    }
    pub async fn decisions(&self, ip: IpAddr, since: Micros) -> Result<Vec<Decision>> {
        todo!()
    }
    pub async fn observations(&self, ip: IpAddr, since: Micros) -> Result<Vec<Observation>> {
        todo!()
    }
    pub async fn listing(&self, ip: IpAddr) -> Result<Option<Listing>> {
        todo!()
    }
    /// Listings still in force at `now`, by address.
    pub async fn listings(&self, now: Micros) -> Result<Vec<Listing>> {
        todo!()
    }
    pub async fn delist(&self, ip: IpAddr) -> Result<bool> {
        todo!()
    }
    pub async fn allow(&self, entry: &AllowEntry) -> Result<()> {
        todo!()
    }
    pub async fn unallow(&self, net: IpNet) -> Result<bool> {
        todo!()
    }
    pub async fn allowlist(&self) -> Result<Vec<AllowEntry>> {
        todo!()
    }
    pub async fn expire(&self, now: Micros, keep: Retention) -> Result<Expired> {
        todo!()
    }
}

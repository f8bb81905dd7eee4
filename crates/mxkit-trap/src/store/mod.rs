//! The store: observations, stream cursors, decisions, listings and the
//! allowlist, in SQLite (one host) or PostgreSQL (several hosts sharing it).
//!
//! Both back ends have the same schema and the same behaviour: they run the
//! same SQL ([`sql`]), and the test suite (`tests/store.rs`) runs every store
//! test against both.
//!
//! Words:
//! - an **identity** ([`Identity`]) is who a client is for clearing
//!   suspicion: its exact address, or its /24 (IPv4) or /64 (IPv6) together
//!   with the domain of its verified name (a sender's pool);
//! - a **stream** is one log being read ([`StreamState`]): its cursor and
//!   watermark move in the same transaction as the events read up to them
//!   ([`Store::ingest`]), so a restart resumes without loss or duplicates;
//! - an observation is **decided** once [`Store::decide`] has recorded a
//!   verdict for it; undecided decoy observations are the detector's queue
//!   and never expire;
//! - a decoy session is **open** until its end is recorded
//!   ([`Store::end_session`]) or the latest end it was recorded with has
//!   passed ([`Store::record_open`]); an open session is not handed to the
//!   detector, which judges a session on everything it did;
//! - **counters** ([`Store::listings_changes`]) go up in the transaction
//!   of every change to what is listed, so that every running trap, on any
//!   host sharing the store, rewrites its exports within one interval;
//! - a **pause** is a time the anomaly alarm turned listing off
//!   ([`Store::pause_begin`]).
//!
//! Addresses are stored as canonical text: an IPv4-mapped IPv6 address
//! (`::ffff:192.0.2.1`, as a dual-stack socket reports IPv4 clients) is
//! stored, and looked up, as the IPv4 address (`IpAddr::to_canonical`), so
//! one host has one identity. Allowlist networks are stored truncated to
//! their prefix (`10.1.2.3/8` is `10.0.0.0/8`).
//!
//! Every call is durable when it returns: SQLite runs with
//! `synchronous=FULL` (why: store/sqlite.rs), PostgreSQL commits synchronously
//! unless its server is configured otherwise.

mod postgres;
pub mod sql;
mod sqlite;

use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::{
    self, AllowEntry, Decision, Flags, Grade, Listing, Micros, Observation, Pause, Role, Stage,
    StreamState,
};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("store URL {0:?} is neither sqlite:PATH nor postgres://...")]
    Url(String),
    /// The database said no (I/O, connection, constraint, lock timeout).
    #[error("{0}")]
    Backend(String),
    /// The store was written by a newer mxkit.
    #[error("store schema version {found} is newer than this mxkit's ({supported}); upgrade mxkit")]
    Schema { found: i64, supported: i64 },
    /// A value in the store that this code cannot read.
    #[error("store holds an unreadable value: {0}")]
    Corrupt(String),
    /// [`Store::update`] of an observation that does not exist.
    #[error("no observation {0} in the store")]
    NoSuchObservation(i64),
    /// [`Store::decide`] of an observation another decision got first (two
    /// detectors sharing one store); nothing was changed.
    #[error("observation {0} is already decided")]
    AlreadyDecided(i64),
    /// [`Store::open_existing`] of a store that does not exist (or a
    /// database that holds no trap store): nothing was created.
    #[error("{0}")]
    Missing(String),
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

impl Identity {
    /// The identity of a client at `ip` whose verified name is `client_name`.
    pub fn new(ip: IpAddr, client_name: Option<&str>) -> Identity {
        Identity {
            ip,
            net: client_net(ip),
            name_domain: client_name.and_then(model::name_domain),
        }
    }

    /// The identity of the client of an observation.
    pub fn of(obs: &Observation) -> Identity {
        Identity::new(obs.client, obs.client_name.as_deref())
    }
}

/// The pool network of an address: its /24 (IPv4) or /64 (IPv6), of the
/// canonical address (an IPv4-mapped IPv6 address counts as IPv4).
pub fn client_net(ip: IpAddr) -> IpNet {
    let ip = ip.to_canonical();
    let prefix = if ip.is_ipv4() { 24 } else { 64 };
    IpNet::new(ip, prefix)
        .map(|n| n.trunc())
        .unwrap_or_else(|_| IpNet::from(ip))
}

/// How long things are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Raw observations (default 7 days).
    pub observations: Micros,
    /// Decisions, the evidence for disputes (default 30 days).
    pub decisions: Micros,
}

impl Default for Retention {
    /// docs/rules/trap.md, "Retention and privacy": 7 days of raw
    /// observations, 30 days of evidence.
    fn default() -> Retention {
        Retention {
            observations: model::secs(7 * 86_400),
            decisions: model::secs(30 * 86_400),
        }
    }
}

/// What [`Store::expire`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    pub listings: u64,
    pub observations: u64,
    pub decisions: u64,
}

/// A page `mxkit serve` keeps for its permalink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedResult {
    /// The permalink's id.
    pub id: String,
    /// `check` or `route`.
    pub kind: String,
    /// The domain or address.
    pub subject: String,
    /// When it was made.
    pub at: Micros,
    /// The page (HTML); empty in lists.
    pub body: String,
}

/// The store. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("kind", &self.kind()).finish()
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Runs the same call on whichever back end this store is.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(s) => s.$method($($arg),*).await,
            Backend::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// Opens (creating the schema if needed) `sqlite:PATH` or `postgres://...`
    /// (also `postgresql://...`).
    ///
    /// `sqlite:PATH` takes a file path (`sqlite:/var/lib/mxkit/trap.db`,
    /// `sqlite:trap.db`; `sqlite://` before an absolute path is accepted
    /// too). The PostgreSQL URL is libpq's (`postgres://user@host/db`,
    /// `?host=/run/postgresql` for a unix socket). The PostgreSQL connection
    /// has no TLS yet: use a unix socket, loopback or a private network.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_with(url, true).await
    }

    /// Opens a store that exists already, creating nothing: for commands
    /// that only read or withdraw (`mxkit trap list`, `show`, `export`,
    /// `delist`, `expire`), where a mistyped path must be an error, not a
    /// new empty store that reports "nothing listed". A SQLite file that
    /// does not exist, or a database without the trap's schema, is
    /// [`StoreError::Missing`]. An older schema is still brought up to date.
    pub async fn open_existing(url: &str) -> Result<Store> {
        Store::open_with(url, false).await
    }

    async fn open_with(url: &str, create: bool) -> Result<Store> {
        let backend = if let Some(path) = url.strip_prefix("sqlite:") {
            let path = match path.strip_prefix("//") {
                Some(rest) if rest.starts_with('/') => rest,
                _ => path,
            };
            if path.is_empty() {
                return Err(StoreError::Url(url.to_string()));
            }
            Backend::Sqlite(sqlite::SqliteStore::open(path.into(), create).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(postgres::PgStore::open(url, create).await?)
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        Ok(Store { backend })
    }

    /// Which back end this is: `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// A session seen at the decoy, durable when this returns; its id.
    /// (Also takes a real MX host's observation one at a time, though
    /// [`Store::ingest`] is the way for log streams.) An observation with an
    /// empty `stream` is refused: every observation names where it came from.
    pub async fn record(&self, obs: &Observation) -> Result<i64> {
        let row = ObsParams::from(obs);
        dispatch!(self.record(row))
    }

    /// A decoy session that has just begun and may go on until `until` at
    /// the latest (the listener's session limit): it stays out of
    /// [`Store::undecided`] until [`Store::end_session`] says it ended, or
    /// `until` has passed (the process that served it was killed).
    pub async fn record_open(&self, obs: &Observation, until: Micros) -> Result<i64> {
        let mut row = ObsParams::from(obs);
        row.ends = Some(until);
        dispatch!(self.record(row))
    }

    /// The decoy session `id` ended at `at` (an end already recorded
    /// earlier is kept).
    pub async fn end_session(&self, id: i64, at: Micros) -> Result<()> {
        dispatch!(self.end_session(id, at))
    }

    /// The decoy session `id` got further: its stage is set, a given HELO or
    /// envelope domain replaces the stored one, `flags` are added to the
    /// stored ones.
    pub async fn update(
        &self,
        id: i64,
        stage: Stage,
        helo: Option<&str>,
        mail_domain: Option<&str>,
        flags: Flags,
    ) -> Result<()> {
        let helo = helo.map(str::to_string);
        let mail_domain = mail_domain.map(str::to_string);
        dispatch!(self.update(id, stage, helo, mail_domain, flags))
    }

    /// Log events and the stream's new cursor/watermark, in one transaction.
    pub async fn ingest(&self, stream: &StreamState, obs: &[Observation]) -> Result<()> {
        let rows: Vec<ObsParams> = obs.iter().map(ObsParams::from).collect();
        dispatch!(self.ingest(stream.clone(), rows))
    }

    pub async fn stream(&self, name: &str) -> Result<Option<StreamState>> {
        dispatch!(self.stream(name.to_string()))
    }

    /// Every stream, by name.
    pub async fn streams(&self) -> Result<Vec<StreamState>> {
        let mut all = dispatch!(self.streams())?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Decoy observations not yet decided that started at or before `until`
    /// and are no longer open at `now`, oldest first (ties by id), at most
    /// `limit`.
    pub async fn undecided(
        &self,
        until: Micros,
        now: Micros,
        limit: usize,
    ) -> Result<Vec<(i64, Observation)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        dispatch!(self.undecided(until, now, limit))
    }

    /// Whether a real MX host saw this identity in `[from, to]`: the exact
    /// address, or (when the identity has a name domain) an address of the
    /// same /24 or /64 whose verified name has the same domain.
    pub async fn primary_seen(&self, who: &Identity, from: Micros, to: Micros) -> Result<bool> {
        dispatch!(self.primary_seen(IdentityParams::from(who), from, to))
    }

    /// Whether a real MX host accepted mail ([`Flags::ACCEPTED`]) from this
    /// identity (as for [`Store::primary_seen`]) at or after `since`.
    pub async fn known_good(&self, who: &Identity, since: Micros) -> Result<bool> {
        dispatch!(self.known_good(IdentityParams::from(who), since))
    }

    /// Primary sessions from clients other than `except` in `[from, to]`.
    pub async fn primary_clients(&self, from: Micros, to: Micros, except: IpAddr) -> Result<u64> {
        dispatch!(self.primary_clients(from, to, ip_text(except)))
    }

    /// Keep a page `mxkit serve` made, under its permalink id (unique).
    pub async fn put_result(&self, result: &SavedResult) -> Result<()> {
        let r = result.clone();
        dispatch!(self.put_result(r))
    }

    /// The page kept under `id`, if any.
    pub async fn result(&self, id: &str) -> Result<Option<SavedResult>> {
        let id = id.to_string();
        dispatch!(self.result(id))
    }

    /// The newest `limit` pages kept, newest first, without their bodies.
    pub async fn recent_results(&self, limit: u32) -> Result<Vec<SavedResult>> {
        let limit = i64::from(limit);
        dispatch!(self.recent_results(limit))
    }

    /// Drop the pages kept from before `before`; how many went (PostgreSQL
    /// does not say: 0 there).
    pub async fn expire_results(&self, before: Micros) -> Result<u64> {
        dispatch!(self.expire_results(before))
    }

    /// Decoy sessions per hour in `[from, to)`: (hour number since the
    /// epoch, sessions), hours without sessions left out. For the trap's
    /// page and metrics (`mxkit serve --trap-store`).
    pub async fn decoy_hours(&self, from: Micros, to: Micros) -> Result<Vec<(i64, u64)>> {
        dispatch!(self.decoy_hours(from, to))
    }

    /// The newest `limit` decisions, newest first.
    pub async fn recent_decisions(&self, limit: u32) -> Result<Vec<Decision>> {
        let limit = i64::from(limit);
        dispatch!(self.recent_decisions(limit))
    }

    /// Decoy decisions made (their `decided` time) in `[from, to]`, in the
    /// order they were made, for the auto-pause ratio.
    pub async fn decisions_between(&self, from: Micros, to: Micros) -> Result<Vec<Decision>> {
        dispatch!(self.decisions_between(from, to))
    }

    /// Records a decision, marks its observation decided and, if given,
    /// replaces the address's listing: one transaction.
    ///
    /// An observation that is already decided is
    /// [`StoreError::AlreadyDecided`] and changes nothing (another detector
    /// sharing the store got there first). A decision for an observation
    /// that is not in the store (expired, or a manual decision) is recorded
    /// as it is.
    pub async fn decide(&self, d: &Decision, listing: Option<&Listing>) -> Result<()> {
        let d = d.clone();
        let listing = listing.cloned();
        dispatch!(self.decide(d, listing))
    }

    /// The decisions about sessions of `ip` that happened (their `at`) at or
    /// after `since`, oldest first.
    pub async fn decisions(&self, ip: IpAddr, since: Micros) -> Result<Vec<Decision>> {
        dispatch!(self.decisions(ip_text(ip), since))
    }

    /// What the decoy and the real MX hosts saw of `ip` at or after `since`,
    /// oldest first.
    pub async fn observations(&self, ip: IpAddr, since: Micros) -> Result<Vec<Observation>> {
        dispatch!(self.observations(ip_text(ip), since))
    }

    /// The listing of `ip`, expired or not.
    pub async fn listing(&self, ip: IpAddr) -> Result<Option<Listing>> {
        dispatch!(self.listing(ip_text(ip)))
    }

    /// Listings still in force at `now` (`expires > now`), by address.
    pub async fn listings(&self, now: Micros) -> Result<Vec<Listing>> {
        let mut all = dispatch!(self.listings(now))?;
        all.sort_by_key(|l| l.ip);
        Ok(all)
    }

    /// Removes the listing of `ip`; whether there was one.
    pub async fn delist(&self, ip: IpAddr) -> Result<bool> {
        dispatch!(self.delist(ip_text(ip)))
    }

    /// How many changes to the listings (new, changed, withdrawn, expired)
    /// any process has made to this store: a running trap rewrites its
    /// exports when this moves.
    pub async fn listings_changes(&self) -> Result<i64> {
        dispatch!(self.counter(sql::LISTINGS_COUNTER))
    }

    /// Starts a pause of listing at `at` unless one is on; whether this
    /// call started it (of several detectors sharing a store, one does).
    pub async fn pause_begin(&self, at: Micros, reason: &str) -> Result<bool> {
        dispatch!(self.pause_begin(at, reason.to_string()))
    }

    /// Ends the pause that is on; whether there was one.
    pub async fn pause_end(&self, at: Micros) -> Result<bool> {
        dispatch!(self.pause_end(at))
    }

    /// The pause that is on, or else the last one kept.
    pub async fn last_pause(&self) -> Result<Option<Pause>> {
        dispatch!(self.last_pause())
    }

    /// Adds (or replaces the note and time of) an allowlist entry; the
    /// network is stored truncated to its prefix.
    pub async fn allow(&self, entry: &AllowEntry) -> Result<()> {
        let net = net_text(entry.net);
        dispatch!(self.allow(net, entry.note.clone(), entry.added))
    }

    /// Removes an allowlist entry (`net` truncated first); whether there was one.
    pub async fn unallow(&self, net: IpNet) -> Result<bool> {
        dispatch!(self.unallow(net_text(net)))
    }

    /// The allowlist, by network.
    pub async fn allowlist(&self) -> Result<Vec<AllowEntry>> {
        let mut all = dispatch!(self.allowlist())?;
        all.sort_by_key(|e| e.net);
        Ok(all)
    }

    /// Removes listings that expired at or before `now`, observations that
    /// started before `now - keep.observations` (never an undecided decoy
    /// observation) and decisions (and pauses that ended) before
    /// `now - keep.decisions`; one transaction.
    pub async fn expire(&self, now: Micros, keep: Retention) -> Result<Expired> {
        let observations = now.saturating_sub(keep.observations);
        let decisions = now.saturating_sub(keep.decisions);
        dispatch!(self.expire(now, observations, decisions))
    }
}

/// Canonical text of an address (IPv4-mapped IPv6 as IPv4).
pub(crate) fn ip_text(ip: IpAddr) -> String {
    ip.to_canonical().to_string()
}

/// Canonical text of a network, truncated to its prefix.
pub(crate) fn net_text(net: IpNet) -> String {
    net.trunc().to_string()
}

/// An observation as the columns of `observations` (sql::INSERT_OBSERVATION
/// order).
#[derive(Clone, Debug)]
pub(crate) struct ObsParams {
    pub at: i64,
    pub role: &'static str,
    pub stream: String,
    pub client: String,
    pub client_net: String,
    pub local: Option<String>,
    pub client_name: Option<String>,
    pub name_domain: Option<String>,
    pub stage: &'static str,
    pub helo: Option<String>,
    pub mail_domain: Option<String>,
    pub flags: i64,
    /// When the session ended, or the latest it may end while it is open;
    /// `None`: over (a real MX host's session, a finished one).
    pub ends: Option<i64>,
}

impl From<&Observation> for ObsParams {
    fn from(o: &Observation) -> ObsParams {
        ObsParams {
            at: o.at,
            role: o.role.as_str(),
            stream: o.stream.clone(),
            client: ip_text(o.client),
            client_net: client_net(o.client).to_string(),
            local: o.local.map(ip_text),
            client_name: o.client_name.clone(),
            name_domain: o.client_name.as_deref().and_then(model::name_domain),
            stage: o.stage.as_str(),
            helo: o.helo.clone(),
            mail_domain: o.mail_domain.clone(),
            flags: i64::from(o.flags.0),
            ends: None,
        }
    }
}

/// An identity as query parameters.
#[derive(Clone, Debug)]
pub(crate) struct IdentityParams {
    pub client: String,
    pub client_net: String,
    pub name_domain: Option<String>,
}

impl From<&Identity> for IdentityParams {
    fn from(who: &Identity) -> IdentityParams {
        IdentityParams {
            client: ip_text(who.ip),
            // Stored nets are always the canonical /24 or /64.
            client_net: net_text(who.net),
            name_domain: who.name_domain.clone(),
        }
    }
}

/// A result row of either back end, read by column number (from 0): the
/// rows below are mapped once for both. `rusqlite::Row` and
/// `tokio_postgres::Row` implement it, each in its back end's file.
pub(crate) trait Columns {
    /// Column `i` as a `T`.
    fn column<T: Column>(&self, i: usize) -> Result<T>;
}

/// A value both back ends read from a column (`i64`, `bool`, `String`, and
/// their `Option`s for nullable columns).
pub(crate) trait Column:
    rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a>
{
}

impl<T> Column for T where T: rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a> {}

/// An observation from the columns of sql's `obs_columns!`, the first of
/// them at `first`. (Every column is read before any is parsed, here and
/// below: a column of the wrong type is a back-end error, whatever else is
/// in the row.)
pub(crate) fn observation(r: &impl Columns, first: usize) -> Result<Observation> {
    let at = r.column(first)?;
    let role: String = r.column(first + 1)?;
    let stream = r.column(first + 2)?;
    let client: String = r.column(first + 3)?;
    let local: Option<String> = r.column(first + 4)?;
    let client_name = r.column(first + 5)?;
    let stage: String = r.column(first + 6)?;
    let helo = r.column(first + 7)?;
    let mail_domain = r.column(first + 8)?;
    let flags: i64 = r.column(first + 9)?;
    Ok(Observation {
        at,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        stream,
        client: parse_ip(&client)?,
        local: local.as_deref().map(parse_ip).transpose()?,
        client_name,
        stage: Stage::parse(&stage)
            .ok_or_else(|| StoreError::Corrupt(format!("stage {stage:?}")))?,
        helo,
        mail_domain,
        flags: Flags(
            u32::try_from(flags).map_err(|_| StoreError::Corrupt(format!("flags {flags}")))?,
        ),
    })
}

/// A decision from the columns of sql's `decision_columns!`.
pub(crate) fn decision(r: &impl Columns) -> Result<Decision> {
    let observation = r.column(0)?;
    let client: String = r.column(1)?;
    let at = r.column(2)?;
    let decided = r.column(3)?;
    let grade: String = r.column(4)?;
    let reason = r.column(5)?;
    Ok(Decision {
        observation,
        client: parse_ip(&client)?,
        at,
        decided,
        grade: parse_grade(&grade)?,
        reason,
    })
}

/// A listing from the columns of sql's `listing_columns!`.
pub(crate) fn listing(r: &impl Columns) -> Result<Listing> {
    let ip: String = r.column(0)?;
    let grade: String = r.column(1)?;
    let reason = r.column(2)?;
    let first_seen = r.column(3)?;
    let last_seen = r.column(4)?;
    let expires = r.column(5)?;
    let events: i64 = r.column(6)?;
    let shadow = r.column(7)?;
    Ok(Listing {
        ip: parse_ip(&ip)?,
        grade: parse_grade(&grade)?,
        reason,
        first_seen,
        last_seen,
        expires,
        events: u32::try_from(events)
            .map_err(|_| StoreError::Corrupt(format!("events {events}")))?,
        shadow,
    })
}

/// A stream from the columns of [`sql::STREAM`].
pub(crate) fn stream_state(r: &impl Columns) -> Result<StreamState> {
    Ok(StreamState {
        name: r.column(0)?,
        cursor: r.column(1)?,
        watermark: r.column(2)?,
        started: r.column(3)?,
        problem: r.column(4)?,
    })
}

/// A pause from the columns of [`sql::PAUSE_LAST`].
pub(crate) fn pause(r: &impl Columns) -> Result<Pause> {
    Ok(Pause {
        started: r.column(0)?,
        ended: r.column(1)?,
        reason: r.column(2)?,
    })
}

/// An allowlist entry from the columns of [`sql::ALLOWLIST`].
pub(crate) fn allow_entry(r: &impl Columns) -> Result<AllowEntry> {
    let net: String = r.column(0)?;
    let note = r.column(1)?;
    let added = r.column(2)?;
    Ok(AllowEntry {
        net: parse_net(&net)?,
        note,
        added,
    })
}

/// A listing as the columns of `listings` (sql's `listing_columns!` order).
pub(crate) struct ListingParams {
    pub ip: String,
    pub grade: &'static str,
    pub reason: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub expires: i64,
    pub events: i64,
    pub shadow: bool,
}

impl From<&Listing> for ListingParams {
    fn from(l: &Listing) -> ListingParams {
        ListingParams {
            ip: ip_text(l.ip),
            grade: l.grade.as_str(),
            reason: l.reason.clone(),
            first_seen: l.first_seen,
            last_seen: l.last_seen,
            expires: l.expires,
            events: i64::from(l.events),
            shadow: l.shadow,
        }
    }
}

pub(crate) fn parse_ip(s: &str) -> Result<IpAddr> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("address {s:?}")))
}

pub(crate) fn parse_net(s: &str) -> Result<IpNet> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("network {s:?}")))
}

fn parse_grade(s: &str) -> Result<Grade> {
    Grade::parse(s).ok_or_else(|| StoreError::Corrupt(format!("grade {s:?}")))
}

/// The statements that bring a store of version `found` up to
/// [`sql::SCHEMA_VERSION`] (none for a new store: [`sql::SCHEMA`] made it
/// whole).
pub(crate) fn migrations(found: Option<i64>) -> impl Iterator<Item = &'static str> {
    let found = found.unwrap_or(sql::SCHEMA_VERSION);
    sql::MIGRATIONS
        .iter()
        .filter(move |(from, _)| *from >= found)
        .flat_map(|(_, stmts)| stmts.iter().copied())
}

/// The error for a schema version newer than [`sql::SCHEMA_VERSION`], if it is.
pub(crate) fn check_version(found: Option<i64>) -> Result<()> {
    match found {
        Some(v) if v > sql::SCHEMA_VERSION => Err(StoreError::Schema {
            found: v,
            supported: sql::SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_net_is_the_24_or_64() {
        assert_eq!(
            client_net("192.0.2.77".parse().unwrap()).to_string(),
            "192.0.2.0/24"
        );
        assert_eq!(
            client_net("2001:db8:1:2:3::9".parse().unwrap()).to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            client_net("2001:db8:1:2:3:4:5:6".parse().unwrap()).to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            client_net("::ffff:192.0.2.77".parse().unwrap()).to_string(),
            "192.0.2.0/24"
        );
    }

    #[test]
    fn sqlite_placeholders_keep_numbers() {
        assert_eq!(
            sql::sqlite_placeholders("a = $1 AND b = $12 OR c = $1"),
            "a = ?1 AND b = ?12 OR c = ?1"
        );
    }

    #[test]
    fn newer_schema_is_refused() {
        assert!(check_version(None).is_ok());
        assert!(check_version(Some(sql::SCHEMA_VERSION)).is_ok());
        assert!(matches!(
            check_version(Some(sql::SCHEMA_VERSION + 1)),
            Err(StoreError::Schema { .. })
        ));
    }
}

//! The SQLite back end: one file on the host that runs the decoy (and,
//! recommended, the primary MX).
//!
//! One connection, owned by one thread of its own; clones of the store send
//! it their calls over a channel and await the answer, so the async API
//! never blocks the runtime. (Calls used to go to tokio's blocking pool with
//! the connection behind a mutex: 10,000 decoy sessions arriving at once
//! then parked hundreds of blocking threads on that mutex, each with its
//! stack and allocator heap: 15 KiB of memory per idle decoy connection
//! instead of 4, bench/trap-load.) Settings, each for a reason:
//! - `journal_mode=WAL`: readers (`mxkit trap list`, exports) do not block
//!   the writer, and a commit is one append to the WAL;
//! - `synchronous=FULL`: the WAL is synced at every commit. `NORMAL` keeps a
//!   committed transaction through a killed process but may lose it to a power
//!   cut or kernel crash; the trap's promise ("a connection that got a reply
//!   is in the store", docs/rules/trap.md) is kept only with `FULL`, at one
//!   fsync per decoy session, which the decoy's rate affords;
//! - `busy_timeout` of [`BUSY_TIMEOUT`]: another process (the CLI, a second
//!   daemon) holding the write lock makes a call wait, not fail;
//! - write transactions begin `IMMEDIATE`, taking the write lock first, so
//!   two processes never deadlock upgrading a read to a write.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{
    Column, Columns, IdentityParams, ListingParams, ObsParams, Result, StoreError, allow_entry,
    check_version, decision, listing, migrations, observation, pause, sql, stream_state,
};
use crate::model::{
    AllowEntry, Decision, Flags, Listing, Micros, Observation, Pause, Stage, StreamState,
};

/// How long a call waits for another process's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Backend(format!("sqlite: {e}"))
    }
}

impl Columns for rusqlite::Row<'_> {
    fn column<T: Column>(&self, i: usize) -> Result<T> {
        Ok(self.get(i)?)
    }
}

/// A call for the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

#[derive(Clone)]
pub(crate) struct SqliteStore {
    jobs: std::sync::mpsc::Sender<Job>,
}

/// A statement of [`sql`] in SQLite's placeholder syntax, from the
/// connection's statement cache.
fn prepare<'c>(conn: &'c Connection, sql: &str) -> Result<rusqlite::CachedStatement<'c>> {
    Ok(conn.prepare_cached(&sql::sqlite_placeholders(sql))?)
}

fn open_blocking(path: &PathBuf, create: bool) -> Result<Connection> {
    let mut conn = if create {
        Connection::open(path)?
    } else {
        if !path.exists() {
            return Err(StoreError::Missing(format!(
                "no trap store at sqlite:{}: the file does not exist (`mxkit trap run` creates it)",
                path.display()
            )));
        }
        use rusqlite::OpenFlags;
        Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if !create {
        let exists: bool = conn.query_row(sql::SCHEMA_EXISTS_SQLITE, [], |r| r.get(0))?;
        if !exists {
            return Err(StoreError::Missing(format!(
                "sqlite:{} holds no trap store",
                path.display()
            )));
        }
    }
    let mode = journal_mode_wal(&conn)?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(StoreError::Backend(format!(
            "sqlite: {} cannot use WAL mode (journal_mode is {mode})",
            path.display()
        )));
    }
    // A page cache of 64 MiB and the file memory-mapped: log ingestion
    // writes every batch through five indexes, and with SQLite's default
    // 2 MiB cache most of its time went to reading back pages it had just
    // written (bench/trap-load).
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;",
    )?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for stmt in sql::SCHEMA {
        tx.execute_batch(&stmt.replace(sql::ID, "INTEGER PRIMARY KEY AUTOINCREMENT"))?;
    }
    let found: Option<i64> = tx.query_row(sql::SCHEMA_VERSION_GET, [], |r| r.get(0))?;
    check_version(found)?;
    if found != Some(sql::SCHEMA_VERSION) {
        for stmt in migrations(found) {
            tx.execute_batch(stmt)?;
        }
        prepare(&tx, sql::SCHEMA_VERSION_SET)?.execute([sql::SCHEMA_VERSION])?;
    }
    tx.commit()?;
    Ok(conn)
}

/// Switches the file to WAL and returns the journal mode it is in.
///
/// Switching needs the exclusive lock, taken from a shared one: when several
/// processes open a new store at once, each holding its shared lock while it
/// waits for the exclusive one would deadlock, so SQLite answers BUSY at once
/// without calling the busy handler (its docs, "Locking And Concurrency",
/// on deadlock). One of them wins; the others try again here until it has,
/// within [`BUSY_TIMEOUT`], and then find the file in WAL already.
fn journal_mode_wal(conn: &Connection) -> Result<String> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut wait = Duration::from_millis(1);
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(50));
            }
            other => return Ok(other?),
        }
    }
}

fn insert_observation(conn: &Connection, o: &ObsParams) -> Result<i64> {
    let id = prepare(conn, sql::INSERT_OBSERVATION)?.query_row(
        params![
            o.at,
            o.role,
            o.stream,
            o.client,
            o.client_net,
            o.local,
            o.client_name,
            o.name_domain,
            o.stage,
            o.helo,
            o.mail_domain,
            o.flags,
            o.ends,
        ],
        |r| r.get(0),
    )?;
    Ok(id)
}

/// Adds one to the counter `name`, inside the caller's transaction.
fn bump(conn: &Connection, name: &str) -> Result<()> {
    prepare(conn, sql::BUMP)?.execute([name])?;
    Ok(())
}

/// Every row `sql` gives for `params`, each read by `read`.
fn rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = prepare(conn, sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(read(r)?);
    }
    Ok(out)
}

/// The first row `sql` gives for `params`, read by `read`, if there is one.
fn first_row<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnOnce(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = prepare(conn, sql)?;
    let mut rows = stmt.query(params)?;
    rows.next()?.map(read).transpose()
}

impl SqliteStore {
    pub async fn open(path: PathBuf, create: bool) -> Result<SqliteStore> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let (ready, opened) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("mxkit-trap-sqlite".into())
            .spawn(move || {
                let mut conn = match open_blocking(&path, create) {
                    Ok(conn) => {
                        let _ = ready.send(Ok(()));
                        conn
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                // Until every clone of the store is gone.
                while let Ok(job) = queue.recv() {
                    // A panic inside a call rolled its transaction back
                    // (rusqlite does on drop): the connection is still
                    // good, and the caller sees its answer dropped.
                    let _ = catch_unwind(AssertUnwindSafe(|| job(&mut conn)));
                }
            })
            .map_err(|e| StoreError::Backend(format!("sqlite: cannot start its thread: {e}")))?;
        opened.await.map_err(|_| stopped())??;
        Ok(SqliteStore { jobs })
    }

    /// Runs `f` with the connection on the connection's thread.
    async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |conn| {
                let _ = answer.send(f(conn));
            }))
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }

    pub async fn record(&self, o: ObsParams) -> Result<i64> {
        self.call(move |conn| insert_observation(conn, &o)).await
    }

    pub async fn end_session(&self, id: i64, at: Micros) -> Result<()> {
        self.call(move |conn| {
            prepare(conn, sql::END_OBSERVATION)?.execute(params![id, at])?;
            Ok(())
        })
        .await
    }

    pub async fn update(
        &self,
        id: i64,
        stage: Stage,
        helo: Option<String>,
        mail_domain: Option<String>,
        flags: Flags,
    ) -> Result<()> {
        self.call(move |conn| {
            let n = prepare(conn, sql::UPDATE_OBSERVATION)?.execute(params![
                id,
                stage.as_str(),
                helo,
                mail_domain,
                i64::from(flags.0)
            ])?;
            if n == 0 {
                return Err(StoreError::NoSuchObservation(id));
            }
            Ok(())
        })
        .await
    }

    pub async fn ingest(&self, stream: StreamState, rows: Vec<ObsParams>) -> Result<()> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for o in &rows {
                insert_observation(&tx, o)?;
            }
            prepare(&tx, sql::UPSERT_STREAM)?.execute(params![
                stream.name,
                stream.cursor,
                stream.watermark,
                stream.started,
                stream.problem
            ])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn stream(&self, name: String) -> Result<Option<StreamState>> {
        self.call(move |conn| first_row(conn, sql::STREAM, [name], |r| stream_state(r)))
            .await
    }

    pub async fn streams(&self) -> Result<Vec<StreamState>> {
        self.call(|conn| rows(conn, sql::STREAMS, [], |r| stream_state(r)))
            .await
    }

    pub async fn undecided(
        &self,
        until: Micros,
        now: Micros,
        limit: i64,
    ) -> Result<Vec<(i64, Observation)>> {
        self.call(move |conn| {
            rows(conn, sql::UNDECIDED, params![until, limit, now], |r| {
                Ok((r.column(0)?, observation(r, 1)?))
            })
        })
        .await
    }

    pub async fn primary_seen(
        &self,
        who: IdentityParams,
        from: Micros,
        to: Micros,
    ) -> Result<bool> {
        self.call(move |conn| {
            Ok(prepare(conn, sql::PRIMARY_SEEN)?.query_row(
                params![who.client, from, to, who.client_net, who.name_domain],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub async fn known_good(&self, who: IdentityParams, since: Micros) -> Result<bool> {
        self.call(move |conn| {
            Ok(prepare(conn, sql::KNOWN_GOOD)?.query_row(
                params![
                    who.client,
                    since,
                    i64::from(Flags::ACCEPTED.0),
                    who.client_net,
                    who.name_domain
                ],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub async fn primary_clients(&self, from: Micros, to: Micros, except: String) -> Result<u64> {
        self.call(move |conn| {
            let n: i64 = prepare(conn, sql::PRIMARY_CLIENTS)?
                .query_row(params![from, to, except], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    pub async fn put_result(&self, r: super::SavedResult) -> Result<()> {
        self.call(move |conn| {
            prepare(conn, sql::PUT_RESULT)?
                .execute(params![r.id, r.kind, r.subject, r.at, r.body])?;
            Ok(())
        })
        .await
    }

    pub async fn result(&self, id: String) -> Result<Option<super::SavedResult>> {
        self.call(move |conn| {
            Ok(prepare(conn, sql::GET_RESULT)?
                .query_row([&id], |r| {
                    Ok(super::SavedResult {
                        id: id.clone(),
                        kind: r.get(0)?,
                        subject: r.get(1)?,
                        at: r.get(2)?,
                        body: r.get(3)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    pub async fn recent_results(&self, limit: i64) -> Result<Vec<super::SavedResult>> {
        self.call(move |conn| {
            rows(conn, sql::RECENT_RESULTS, params![limit], |r| {
                Ok(super::SavedResult {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    subject: r.get(2)?,
                    at: r.get(3)?,
                    body: String::new(),
                })
            })
        })
        .await
    }

    pub async fn expire_results(&self, before: Micros) -> Result<u64> {
        self.call(move |conn| {
            let n = prepare(conn, sql::EXPIRE_RESULTS)?.execute(params![before])?;
            Ok(n as u64)
        })
        .await
    }

    pub async fn decoy_hours(&self, from: Micros, to: Micros) -> Result<Vec<(i64, u64)>> {
        self.call(move |conn| {
            rows(conn, sql::DECOY_HOURS, params![from, to], |r| {
                let n: i64 = r.get(1)?;
                Ok((r.get(0)?, u64::try_from(n).unwrap_or(0)))
            })
        })
        .await
    }

    pub async fn recent_decisions(&self, limit: i64) -> Result<Vec<Decision>> {
        self.call(move |conn| rows(conn, sql::RECENT_DECISIONS, params![limit], |r| decision(r)))
            .await
    }

    pub async fn decisions_between(&self, from: Micros, to: Micros) -> Result<Vec<Decision>> {
        self.call(move |conn| {
            rows(conn, sql::DECISIONS_BETWEEN, params![from, to], |r| {
                decision(r)
            })
        })
        .await
    }

    pub async fn decide(&self, d: Decision, listing: Option<Listing>) -> Result<()> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let marked =
                prepare(&tx, sql::MARK_DECIDED)?.execute(params![d.observation, d.decided])?;
            if marked == 0 {
                let decided: Option<Option<i64>> = prepare(&tx, sql::OBSERVATION_DECIDED)?
                    .query_row([d.observation], |r| r.get(0))
                    .optional()?;
                if let Some(Some(_)) = decided {
                    return Err(StoreError::AlreadyDecided(d.observation));
                }
            }
            prepare(&tx, sql::INSERT_DECISION)?.execute(params![
                d.observation,
                super::ip_text(d.client),
                d.at,
                d.decided,
                d.grade.as_str(),
                d.reason
            ])?;
            if let Some(l) = &listing {
                let l = ListingParams::from(l);
                prepare(&tx, sql::UPSERT_LISTING)?.execute(params![
                    l.ip,
                    l.grade,
                    l.reason,
                    l.first_seen,
                    l.last_seen,
                    l.expires,
                    l.events,
                    l.shadow
                ])?;
                bump(&tx, sql::LISTINGS_COUNTER)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn decisions(&self, ip: String, since: Micros) -> Result<Vec<Decision>> {
        self.call(move |conn| {
            rows(conn, sql::DECISIONS_FOR, params![ip, since], |r| {
                decision(r)
            })
        })
        .await
    }

    pub async fn observations(&self, ip: String, since: Micros) -> Result<Vec<Observation>> {
        self.call(move |conn| {
            rows(conn, sql::OBSERVATIONS_FOR, params![ip, since], |r| {
                observation(r, 0)
            })
        })
        .await
    }

    pub async fn listing(&self, ip: String) -> Result<Option<Listing>> {
        self.call(move |conn| first_row(conn, sql::LISTING, [ip], |r| listing(r)))
            .await
    }

    pub async fn listings(&self, now: Micros) -> Result<Vec<Listing>> {
        self.call(move |conn| rows(conn, sql::LISTINGS, [now], |r| listing(r)))
            .await
    }

    pub async fn delist(&self, ip: String) -> Result<bool> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let removed = prepare(&tx, sql::DELIST)?.execute([ip])? > 0;
            if removed {
                bump(&tx, sql::LISTINGS_COUNTER)?;
            }
            tx.commit()?;
            Ok(removed)
        })
        .await
    }

    pub async fn counter(&self, name: &'static str) -> Result<i64> {
        self.call(move |conn| {
            Ok(prepare(conn, sql::COUNTER)?
                .query_row([name], |r| r.get(0))
                .optional()?
                .unwrap_or(0))
        })
        .await
    }

    pub async fn pause_begin(&self, at: Micros, reason: String) -> Result<bool> {
        self.call(move |conn| {
            Ok(prepare(conn, sql::PAUSE_BEGIN)?.execute(params![at, reason])? > 0)
        })
        .await
    }

    pub async fn pause_end(&self, at: Micros) -> Result<bool> {
        self.call(move |conn| Ok(prepare(conn, sql::PAUSE_END)?.execute([at])? > 0))
            .await
    }

    pub async fn last_pause(&self) -> Result<Option<Pause>> {
        self.call(|conn| first_row(conn, sql::PAUSE_LAST, [], |r| pause(r)))
            .await
    }

    pub async fn allow(&self, net: String, note: String, added: Micros) -> Result<()> {
        self.call(move |conn| {
            prepare(conn, sql::ALLOW)?.execute(params![net, note, added])?;
            Ok(())
        })
        .await
    }

    pub async fn unallow(&self, net: String) -> Result<bool> {
        self.call(move |conn| Ok(prepare(conn, sql::UNALLOW)?.execute([net])? > 0))
            .await
    }

    pub async fn allowlist(&self) -> Result<Vec<AllowEntry>> {
        self.call(|conn| rows(conn, sql::ALLOWLIST, [], |r| allow_entry(r)))
            .await
    }

    pub async fn expire(
        &self,
        now: Micros,
        observations_before: Micros,
        decisions_before: Micros,
    ) -> Result<super::Expired> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let listings = prepare(&tx, sql::EXPIRE_LISTINGS)?.execute([now])?;
            let observations =
                prepare(&tx, sql::EXPIRE_OBSERVATIONS)?.execute([observations_before])?;
            let decisions = prepare(&tx, sql::EXPIRE_DECISIONS)?.execute([decisions_before])?;
            prepare(&tx, sql::EXPIRE_PAUSES)?.execute([decisions_before])?;
            if listings > 0 {
                bump(&tx, sql::LISTINGS_COUNTER)?;
            }
            tx.commit()?;
            Ok(super::Expired {
                listings: listings as u64,
                observations: observations as u64,
                decisions: decisions as u64,
            })
        })
        .await
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("sqlite: the store call did not finish (it panicked)".into())
}

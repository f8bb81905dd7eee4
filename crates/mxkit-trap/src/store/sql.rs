//! The SQL both back ends run: one schema and one set of statements, written
//! with PostgreSQL's `$N` placeholders. The SQLite back end turns `$N` into
//! SQLite's `?N` (same numbers, see [`sqlite_placeholders`]), so the two
//! stores cannot drift apart.
//!
//! Words: times are Unix microseconds (`BIGINT`); addresses are canonical
//! text (`IpAddr::to_string()` of the canonical address); `client_net` is the
//! client's /24 (IPv4) or /64 (IPv6) as `IpNet` text and `name_domain` the
//! domain of its verified name ([`crate::model::name_domain`]), together the
//! pool identity that clears suspicion. `observations.decided` is the time
//! the decoy session was decided, `NULL` while it is not.
//!
//! Ordering by address is done in Rust, not in SQL: text collation differs
//! between the back ends (and between PostgreSQL locales), and text order is
//! not address order (`10.0.0.1` < `9.0.0.1`).

use std::borrow::Cow;

/// The schema version this code writes and reads. A store with a newer
/// version is refused rather than misread; an older one is brought up to
/// date by [`MIGRATIONS`] when it is opened.
///
/// 2: `observations.ends` (when a decoy session ended, or the latest it can
/// end while it is open), `streams.problem` (why a log cannot be read),
/// the `pauses` of the anomaly alarm and the `changes` counters.
/// 3: `results`, the pages `mxkit serve` keeps for its permalinks.
pub const SCHEMA_VERSION: i64 = 3;

/// Stands for the back end's auto-increment primary key in [`SCHEMA`].
pub const ID: &str = "{ID}";

/// The schema, one statement each, every one idempotent (`IF NOT EXISTS`).
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS observations (
        id {ID},
        at BIGINT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('decoy', 'primary')),
        stream TEXT NOT NULL CHECK (length(stream) > 0),
        client TEXT NOT NULL,
        client_net TEXT NOT NULL,
        local TEXT,
        client_name TEXT,
        name_domain TEXT,
        stage TEXT NOT NULL,
        helo TEXT,
        mail_domain TEXT,
        flags BIGINT NOT NULL DEFAULT 0,
        decided BIGINT,
        ends BIGINT
    )",
    // primary_seen / known_good by exact address.
    "CREATE INDEX IF NOT EXISTS observations_role_client_at
        ON observations (role, client, at)",
    // primary_seen / known_good by pool identity.
    "CREATE INDEX IF NOT EXISTS observations_role_net_domain_at
        ON observations (role, client_net, name_domain, at)",
    // undecided(): the detector's work queue.
    "CREATE INDEX IF NOT EXISTS observations_undecided
        ON observations (at) WHERE role = 'decoy' AND decided IS NULL",
    // primary_clients() and expire().
    "CREATE INDEX IF NOT EXISTS observations_role_at ON observations (role, at)",
    // observations(ip, since) (`mxkit trap show`) is served by
    // observations_role_client_at through `role IN (...)`: one index less
    // to write per log event (bench/trap-load).
    "DROP INDEX IF EXISTS observations_client_at",
    "CREATE TABLE IF NOT EXISTS streams (
        name TEXT PRIMARY KEY,
        cursor TEXT,
        watermark BIGINT NOT NULL,
        started BIGINT NOT NULL,
        problem TEXT
    )",
    "CREATE TABLE IF NOT EXISTS decisions (
        id {ID},
        observation BIGINT NOT NULL,
        client TEXT NOT NULL,
        at BIGINT NOT NULL,
        decided BIGINT NOT NULL,
        grade TEXT NOT NULL,
        reason TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS decisions_client_at ON decisions (client, at)",
    "CREATE INDEX IF NOT EXISTS decisions_decided ON decisions (decided)",
    "CREATE TABLE IF NOT EXISTS listings (
        ip TEXT PRIMARY KEY,
        grade TEXT NOT NULL,
        reason TEXT NOT NULL,
        first_seen BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        expires BIGINT NOT NULL,
        events BIGINT NOT NULL,
        shadow BOOLEAN NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS listings_expires ON listings (expires)",
    "CREATE TABLE IF NOT EXISTS allowlist (
        net TEXT PRIMARY KEY,
        note TEXT NOT NULL,
        added BIGINT NOT NULL
    )",
    // The anomaly alarm's pauses of listing: `ended` is NULL while one is on.
    "CREATE TABLE IF NOT EXISTS pauses (
        id {ID},
        started BIGINT NOT NULL,
        ended BIGINT,
        reason TEXT NOT NULL
    )",
    // Counters that every writer bumps in the transaction that changes the
    // thing counted; `listings` tells a running trap (any process, any
    // host) that its exports may be stale.
    "CREATE TABLE IF NOT EXISTS changes (
        name TEXT PRIMARY KEY,
        counter BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS results (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        at BIGINT NOT NULL,
        body TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS results_at ON results (at)",
];

/// What brings a store of version `.0` up to `.0 + 1`, after [`SCHEMA`] has
/// created whatever was missing (new tables come from there; new columns of
/// old tables from here).
pub const MIGRATIONS: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "ALTER TABLE observations ADD COLUMN ends BIGINT",
            "ALTER TABLE streams ADD COLUMN problem TEXT",
        ],
    ),
    // 2 -> 3: the `results` table comes from SCHEMA.
    (2, &[]),
];

/// $1 id, $2 kind, $3 subject, $4 at, $5 body.
pub const PUT_RESULT: &str =
    "INSERT INTO results (id, kind, subject, at, body) VALUES ($1, $2, $3, $4, $5)";
pub const GET_RESULT: &str = "SELECT kind, subject, at, body FROM results WHERE id = $1";
/// $1 how many.
pub const RECENT_RESULTS: &str =
    "SELECT id, kind, subject, at FROM results ORDER BY at DESC, id LIMIT $1";
/// $1 before.
pub const EXPIRE_RESULTS: &str = "DELETE FROM results WHERE at < $1";

/// Whether a database holds a trap store at all (read-only commands refuse
/// one that does not, rather than create it).
pub const SCHEMA_EXISTS_SQLITE: &str =
    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')";
pub const SCHEMA_EXISTS_POSTGRES: &str = "SELECT to_regclass('schema_version') IS NOT NULL";

pub const SCHEMA_VERSION_GET: &str = "SELECT MAX(version) FROM schema_version";
pub const SCHEMA_VERSION_SET: &str = "INSERT INTO schema_version (version) VALUES ($1)";

/// The columns [`crate::store::ObsRow`] reads, in its order.
macro_rules! obs_columns {
    () => {
        "at, role, stream, client, local, client_name, stage, helo, mail_domain, flags"
    };
}

macro_rules! decision_columns {
    () => {
        "observation, client, at, decided, grade, reason"
    };
}

macro_rules! listing_columns {
    () => {
        "ip, grade, reason, first_seen, last_seen, expires, events, shadow"
    };
}

pub const INSERT_OBSERVATION: &str = "INSERT INTO observations
    (at, role, stream, client, client_net, local, client_name, name_domain,
     stage, helo, mail_domain, flags, ends)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    RETURNING id";

/// A decoy session ended at `$2` (never later than the bound it was
/// recorded with).
pub const END_OBSERVATION: &str = "UPDATE observations SET ends = $2
    WHERE id = $1 AND (ends IS NULL OR ends > $2)";

/// Flags only accumulate; a missing HELO or domain keeps the one stored.
pub const UPDATE_OBSERVATION: &str = "UPDATE observations
    SET stage = $2, helo = COALESCE($3, helo), mail_domain = COALESCE($4, mail_domain),
        flags = flags | $5
    WHERE id = $1";

pub const UPSERT_STREAM: &str = "INSERT INTO streams (name, cursor, watermark, started, problem)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (name) DO UPDATE SET
        cursor = excluded.cursor, watermark = excluded.watermark, started = excluded.started,
        problem = excluded.problem";

pub const STREAM: &str =
    "SELECT name, cursor, watermark, started, problem FROM streams WHERE name = $1";
pub const STREAMS: &str = "SELECT name, cursor, watermark, started, problem FROM streams";

pub const UNDECIDED: &str = concat!(
    "SELECT id, ",
    obs_columns!(),
    " FROM observations
    WHERE role = 'decoy' AND decided IS NULL AND at <= $1 AND (ends IS NULL OR ends <= $3)
    ORDER BY at, id LIMIT $2"
);

/// $1 client, $2 from, $3 to, $4 client_net, $5 name_domain (NULL: exact
/// address only, as `name_domain = NULL` never holds).
pub const PRIMARY_SEEN: &str = "SELECT
    EXISTS (SELECT 1 FROM observations
            WHERE role = 'primary' AND client = $1 AND at >= $2 AND at <= $3)
    OR EXISTS (SELECT 1 FROM observations
            WHERE role = 'primary' AND client_net = $4 AND name_domain = $5
              AND at >= $2 AND at <= $3)";

/// $1 client, $2 since, $3 the ACCEPTED bit, $4 client_net, $5 name_domain.
pub const KNOWN_GOOD: &str = "SELECT
    EXISTS (SELECT 1 FROM observations
            WHERE role = 'primary' AND client = $1 AND at >= $2 AND (flags & $3) <> 0)
    OR EXISTS (SELECT 1 FROM observations
            WHERE role = 'primary' AND client_net = $4 AND name_domain = $5
              AND at >= $2 AND (flags & $3) <> 0)";

pub const PRIMARY_CLIENTS: &str = "SELECT COUNT(*) FROM observations
    WHERE role = 'primary' AND at >= $1 AND at <= $2 AND client <> $3";

pub const DECISIONS_BETWEEN: &str = concat!(
    "SELECT ",
    decision_columns!(),
    " FROM decisions WHERE decided >= $1 AND decided <= $2 ORDER BY decided, id"
);

/// Decoy sessions per hour: $1 from, $2 to (micros); rows (hour number
/// since the epoch, sessions).
pub const DECOY_HOURS: &str = "SELECT at / 3600000000 AS hour, COUNT(*) FROM observations
    WHERE role = 'decoy' AND at >= $1 AND at < $2 GROUP BY hour ORDER BY hour";

/// The newest decisions first: $1 how many.
pub const RECENT_DECISIONS: &str = concat!(
    "SELECT ",
    decision_columns!(),
    " FROM decisions ORDER BY decided DESC, id DESC LIMIT $1"
);

pub const MARK_DECIDED: &str =
    "UPDATE observations SET decided = $2 WHERE id = $1 AND decided IS NULL";

pub const OBSERVATION_DECIDED: &str = "SELECT decided FROM observations WHERE id = $1";

pub const INSERT_DECISION: &str = concat!(
    "INSERT INTO decisions (",
    decision_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6)"
);

pub const UPSERT_LISTING: &str = concat!(
    "INSERT INTO listings (",
    listing_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (ip) DO UPDATE SET
        grade = excluded.grade, reason = excluded.reason,
        first_seen = excluded.first_seen, last_seen = excluded.last_seen,
        expires = excluded.expires, events = excluded.events, shadow = excluded.shadow"
);

pub const DECISIONS_FOR: &str = concat!(
    "SELECT ",
    decision_columns!(),
    " FROM decisions WHERE client = $1 AND at >= $2 ORDER BY at, id"
);

pub const OBSERVATIONS_FOR: &str = concat!(
    "SELECT ",
    obs_columns!(),
    " FROM observations WHERE role IN ('decoy', 'primary') AND client = $1 AND at >= $2 ORDER BY at, id"
);

pub const LISTING: &str = concat!(
    "SELECT ",
    listing_columns!(),
    " FROM listings WHERE ip = $1"
);

pub const LISTINGS: &str = concat!(
    "SELECT ",
    listing_columns!(),
    " FROM listings WHERE expires > $1"
);

pub const DELIST: &str = "DELETE FROM listings WHERE ip = $1";

/// Adds one to the counter `$1` (creating it).
pub const BUMP: &str = "INSERT INTO changes (name, counter) VALUES ($1, 1)
    ON CONFLICT (name) DO UPDATE SET counter = changes.counter + 1";

pub const COUNTER: &str = "SELECT counter FROM changes WHERE name = $1";

/// The counter of changes to `listings`.
pub const LISTINGS_COUNTER: &str = "listings";

/// Starts a pause unless one is on; inserts nothing when one is.
pub const PAUSE_BEGIN: &str = "INSERT INTO pauses (started, reason)
    SELECT CAST($1 AS BIGINT), CAST($2 AS TEXT) WHERE NOT EXISTS (SELECT 1 FROM pauses WHERE ended IS NULL)";

pub const PAUSE_END: &str = "UPDATE pauses SET ended = $1 WHERE ended IS NULL";

/// The pause that is on, or else the last one.
pub const PAUSE_LAST: &str = "SELECT started, ended, reason FROM pauses
    ORDER BY (ended IS NULL) DESC, started DESC, id DESC LIMIT 1";

pub const ALLOW: &str = "INSERT INTO allowlist (net, note, added) VALUES ($1, $2, $3)
    ON CONFLICT (net) DO UPDATE SET note = excluded.note, added = excluded.added";

pub const UNALLOW: &str = "DELETE FROM allowlist WHERE net = $1";

pub const ALLOWLIST: &str = "SELECT net, note, added FROM allowlist";

pub const EXPIRE_LISTINGS: &str = "DELETE FROM listings WHERE expires <= $1";

/// Never an undecided decoy observation: the detector has yet to judge it.
pub const EXPIRE_OBSERVATIONS: &str = "DELETE FROM observations
    WHERE at < $1 AND (role <> 'decoy' OR decided IS NOT NULL)";

pub const EXPIRE_DECISIONS: &str = "DELETE FROM decisions WHERE decided < $1";

/// Pauses that ended before `$1` (kept as long as decisions).
pub const EXPIRE_PAUSES: &str = "DELETE FROM pauses WHERE ended < $1";

/// `$N` -> `?N`: SQLite's numbered parameters bind by the same numbers. No
/// statement here has a `$` anywhere else.
pub fn sqlite_placeholders(sql: &str) -> Cow<'_, str> {
    if sql.contains('$') {
        Cow::Owned(sql.replace('$', "?"))
    } else {
        Cow::Borrowed(sql)
    }
}

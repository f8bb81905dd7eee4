//! The real MX hosts' logs: what the primaries saw, as observations.
//!
//! - [`postfix`]: Postfix log lines (postscreen, smtpd, qmgr) to
//!   [`Role::Primary`](crate::model::Role::Primary) observations;
//! - [`follow`]: a log file followed from a cursor (`INODE:OFFSET`),
//!   through rotation and truncation;
//! - [`journal`]: journald, through `journalctl -o json --follow`, resumed
//!   by the journal's cursor.
//!
//! Both readers hand out [`Batch`]es: the observations of a stretch of the
//! stream plus the stream's new [`StreamState`] (cursor and watermark), to
//! be stored together in one transaction (`Store::ingest`), so that a
//! restart resumes exactly after what was stored.
//!
//! The **watermark** is the time up to which the stream is complete: the
//! newest event time read, or "now" when the reader has caught up with the
//! end of its stream (so an idle stream still advances). Classic syslog
//! time stamps have whole seconds; a line logged in the same second as a
//! caught-up read may carry a time just under the watermark, which the
//! detector's skew window (W_skew, 5 s) absorbs.

use std::io;
use std::path::PathBuf;

use crate::model::{Observation, StreamState};

pub mod follow;
pub mod journal;
pub mod postfix;

pub use follow::{FileFollower, FollowConfig, StartAt};
pub use journal::{JournalConfig, JournalReader};
pub use postfix::{ParserConfig, PostfixParser};

/// A stretch of a stream: its observations and where the stream got to.
/// Store both in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub observations: Vec<Observation>,
    /// The cursor after the last line of this batch, and the watermark.
    pub state: StreamState,
    /// Complete lines (or journal entries) read in this batch.
    pub lines: u64,
    /// Lines skipped in this batch: over-long, or journal entries that were
    /// not valid JSON.
    pub skipped: u64,
    /// Whether the reader reached the end of what is there now.
    pub caught_up: bool,
}

/// What can go wrong reading a log stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    #[error("stream {stream}: cursor {cursor:?} is not INODE:OFFSET")]
    Cursor { stream: String, cursor: String },
    #[error(
        "journalctl not found (tried {program}): install systemd's journalctl, or read \
         Postfix's log file instead (--primary-log FILE)"
    )]
    JournalctlMissing { program: PathBuf },
    #[error("cannot run {program}: {source}")]
    JournalctlSpawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("journalctl stopped ({status}): {stderr}")]
    JournalctlExited { status: String, stderr: String },
}

//! A log file followed from a cursor, like `tail -F`, in batches.
//!
//! The cursor is `INODE:OFFSET`: the file's inode and the byte offset just
//! after the last complete line handed out. A partial last line (the
//! writer is in the middle of it) stays unread until its line end arrives,
//! so the cursor never points into a line.
//!
//! - **First run** (no cursor): from the end ([`StartAt::End`], the
//!   default: old lines say nothing about now) or the start. A file that
//!   does not exist yet is waited for and read from its start when it
//!   appears (everything in it is new).
//! - **Rotation**: the path names another inode. The old file (still open)
//!   is read to its end first, then the new one from offset 0. A cursor
//!   whose inode is no longer the path's is looked for in `PATH.1`
//!   (logrotate's first rotated name) and finished there.
//! - **Truncation** (`copytruncate`, or `: > mail.log`): the file is shorter
//!   than the offset; read again from 0.
//! - **Over-long lines** (more than [`FollowConfig::max_line`] bytes) are
//!   skipped and counted ([`Batch::skipped`]), never buffered whole.
//! - **Unreadable** (the path is a folder, may not be read, the disk
//!   fails) or **missing** (at the start, or for longer than
//!   [`MISSING_GRACE`] after a rotation): the stream's state says so
//!   ([`StreamState::problem`]), its watermark stays where it is, and the
//!   file is tried again at every poll, from the cursor: nothing read is
//!   lost and nothing is read twice. The reader never gives up on a
//!   stream: the operator may fix it while the trap runs.
//!
//! Reads are plain blocking `std::fs` reads of at most 64 KiB at a time
//! between the awaits: a local file does not block for long, and nothing
//! changes across an await, so [`FileFollower::next_batch`] is
//! cancellation-safe (a dropped call loses nothing). The file is polled
//! ([`FollowConfig::poll`]); inotify is not needed at mail-log rates.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::postfix::PostfixParser;
use super::{Batch, LogError};
use crate::model::{Micros, Observation, StreamState, now};

/// Where a stream without a cursor starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartAt {
    /// At the current end of the file: only new lines.
    #[default]
    End,
    /// At the start of the file.
    Beginning,
}

/// How a file is followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowConfig {
    pub path: PathBuf,
    /// Where to begin when there is no cursor.
    pub start: StartAt,
    /// How often the file is looked at when there is nothing new.
    pub poll: Duration,
    /// How often an idle (caught-up) stream yields an empty batch, so that
    /// its watermark advances in the store.
    pub heartbeat: Duration,
    /// The longest line kept, in bytes; longer lines are skipped.
    pub max_line: usize,
    /// About how many lines one batch holds at most (a batch ends at the
    /// end of the 64 KiB read that reaches it).
    pub max_batch: u64,
}

impl FollowConfig {
    pub fn new(path: impl Into<PathBuf>) -> FollowConfig {
        FollowConfig {
            path: path.into(),
            start: StartAt::End,
            poll: Duration::from_millis(200),
            heartbeat: Duration::from_secs(1),
            max_line: 16 * 1024,
            max_batch: 10_000,
        }
    }
}

const CHUNK: usize = 64 * 1024;

/// How long the path may be missing after a rotation before the stream
/// counts as unreadable: logrotate renames the file and the logger creates
/// the new one a moment later.
pub const MISSING_GRACE: Duration = Duration::from_secs(10);

/// Follows one log file, turning its lines into observations with a
/// [`PostfixParser`].
pub struct FileFollower {
    config: FollowConfig,
    parser: PostfixParser,
    /// The open file (maybe a rotated one still being finished).
    file: Option<File>,
    inode: u64,
    /// Whether a file was opened at all (else the cursor is the resumed one).
    opened: bool,
    /// Just after the last complete line consumed (the cursor's offset).
    offset: u64,
    /// Where the next read starts.
    read_pos: u64,
    /// The partial line read so far.
    partial: Vec<u8>,
    /// Discarding an over-long line up to its end.
    skipping: bool,
    /// The line being discarded is the fragment before a start at the end
    /// of the file: not counted.
    fragment: bool,
    /// A cursor from the store, used at the first open.
    resume: Option<(u64, u64)>,
    chunk: Box<[u8]>,
    watermark: Micros,
    started: Micros,
    last_yield: Option<Instant>,
    total_lines: u64,
    total_skipped: u64,
    /// Why the file cannot be read now.
    problem: Option<String>,
    /// Since when the path has not existed.
    missing_since: Option<Instant>,
}

impl std::fmt::Debug for FileFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileFollower")
            .field("path", &self.config.path)
            .field("inode", &self.inode)
            .field("offset", &self.offset)
            .field("read_pos", &self.read_pos)
            .field("partial", &self.partial.len())
            .field("skipping", &self.skipping)
            .field("watermark", &self.watermark)
            .finish_non_exhaustive()
    }
}

/// `INODE:OFFSET`.
fn parse_cursor(c: &str) -> Option<(u64, u64)> {
    let (i, o) = c.split_once(':')?;
    Some((i.parse().ok()?, o.parse().ok()?))
}

impl FileFollower {
    /// A follower of `config.path` feeding `parser`, resuming from `resume`
    /// (the stream's state in the store) when given. Opens nothing yet: a
    /// file that does not exist yet is waited for.
    pub fn new(
        config: FollowConfig,
        parser: PostfixParser,
        resume: Option<&StreamState>,
    ) -> Result<FileFollower, LogError> {
        let stream = parser.config().stream.clone();
        let cursor = match resume.and_then(|s| s.cursor.as_deref()) {
            Some(c) => Some(parse_cursor(c).ok_or_else(|| LogError::Cursor {
                stream: stream.clone(),
                cursor: c.to_string(),
            })?),
            None => None,
        };
        Ok(FileFollower {
            parser,
            file: None,
            inode: 0,
            opened: false,
            offset: 0,
            read_pos: 0,
            partial: Vec::new(),
            skipping: false,
            fragment: false,
            resume: cursor,
            chunk: vec![0; CHUNK].into_boxed_slice(),
            watermark: resume.map_or(0, |s| s.watermark),
            started: now(),
            last_yield: None,
            total_lines: 0,
            total_skipped: 0,
            problem: None,
            missing_since: None,
            config,
        })
    }

    pub fn parser(&self) -> &PostfixParser {
        &self.parser
    }

    /// Lines and skipped lines read since the start.
    pub fn totals(&self) -> (u64, u64) {
        (self.total_lines, self.total_skipped)
    }

    /// The stream state now: cursor and watermark.
    pub fn state(&self) -> StreamState {
        StreamState {
            name: self.parser.config().stream.clone(),
            cursor: if self.opened {
                Some(format!("{}:{}", self.inode, self.offset))
            } else {
                self.resume.map(|(i, o)| format!("{i}:{o}"))
            },
            watermark: self.watermark,
            started: self.started,
            problem: self.problem.clone(),
        }
    }

    /// Waits until there is something to store: new lines, or (when the
    /// file has nothing new) a heartbeat's time since the last batch, so
    /// that an idle stream's watermark advances. Polls the file every
    /// [`FollowConfig::poll`].
    pub async fn next_batch(&mut self) -> Result<Batch, LogError> {
        loop {
            let batch = self.read_now()?;
            let idle_due = self
                .last_yield
                .is_none_or(|t| t.elapsed() >= self.config.heartbeat);
            if batch.lines > 0 || batch.skipped > 0 || !batch.caught_up || idle_due {
                self.last_yield = Some(Instant::now());
                return Ok(batch);
            }
            tokio::time::sleep(self.config.poll).await;
        }
    }

    /// Reads what the file holds now (up to about
    /// [`FollowConfig::max_batch`] lines), without waiting. Blocking file
    /// I/O: for tests, benchmarks and callers on their own thread.
    ///
    /// A file that cannot be read is not an error: the batch's state
    /// carries the [`StreamState::problem`], and the next call tries again
    /// from the cursor. (The `Result` is kept for the callers' sake; no
    /// read fails it today.)
    pub fn read_now(&mut self) -> Result<Batch, LogError> {
        let mut r = Reading {
            reference: now(),
            out: Vec::new(),
            lines: 0,
            skipped: 0,
            newest: Micros::MIN,
        };
        // `complete`: the file is there and was read without an error.
        let (caught_up, complete) = match self.read_into(&mut r) {
            Stop::Full => (false, true),
            Stop::CaughtUp => (true, true),
            Stop::Missing => {
                self.missing();
                (true, false)
            }
            Stop::Failed(e) => {
                self.failed(e);
                (true, false)
            }
        };
        if complete {
            self.problem = None;
        }
        if r.newest > self.watermark {
            self.watermark = r.newest;
        }
        if caught_up && complete && self.partial.is_empty() && !self.skipping {
            self.watermark = self.watermark.max(r.reference);
        }
        self.total_lines += r.lines;
        self.total_skipped += r.skipped;
        Ok(Batch {
            observations: r.out,
            state: self.state(),
            lines: r.lines,
            skipped: r.skipped,
            caught_up,
        })
    }

    /// Reads chunks into `r` until the batch is full, the end of the file
    /// (through rotations), or a problem.
    fn read_into(&mut self, r: &mut Reading) -> Stop {
        loop {
            if self.file.is_none() {
                match self.open() {
                    Ok(true) => self.missing_since = None,
                    Ok(false) => return Stop::Missing,
                    Err(e) => return Stop::Failed(e),
                }
            }
            match self.read_chunk(r) {
                Ok(true) if r.lines >= self.config.max_batch => return Stop::Full,
                Ok(true) => {}
                Ok(false) if self.rotated(r) => {}
                Ok(false) => return Stop::CaughtUp,
                Err(e) => return Stop::Failed(e),
            }
        }
    }

    /// One read of the open file into `r`: `false` at its end. A file
    /// shorter than what was read (truncated under us) is read again from 0.
    fn read_chunk(&mut self, r: &mut Reading) -> io::Result<bool> {
        let Some(file) = self.file.as_mut() else {
            return Ok(false);
        };
        if file.metadata()?.len() < self.read_pos {
            tracing::info!(path = %self.config.path.display(), "log file truncated, reading it again from the start");
            file.seek(SeekFrom::Start(0))?;
            self.offset = 0;
            self.read_pos = 0;
            self.partial.clear();
            self.skipping = false;
        }
        let n = loop {
            match file.read(&mut self.chunk) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                read => break read?,
            }
        };
        if n == 0 {
            return Ok(false);
        }
        let (lines, skipped) = self.consume(n, r.reference, &mut r.out, &mut r.newest);
        r.lines += lines;
        r.skipped += skipped;
        Ok(true)
    }

    /// At the end of the open file: whether the path has moved on to
    /// another file (rotation), which is then read from its start; the old
    /// file's last line is complete.
    fn rotated(&mut self, r: &mut Reading) -> bool {
        match std::fs::metadata(&self.config.path) {
            Ok(m) if m.ino() != self.inode => {}
            _ => return false,
        }
        tracing::info!(path = %self.config.path.display(), "log file rotated");
        if !self.partial.is_empty() && !self.skipping {
            let line = std::mem::take(&mut self.partial);
            r.lines += 1;
            self.line(&line, r.reference, &mut r.out, &mut r.newest);
            self.partial = line;
        }
        self.partial.clear();
        self.skipping = false;
        self.file = None;
        self.resume = None;
        self.config.start = StartAt::Beginning;
        true
    }

    /// The path does not exist: a problem at the start, or once it has
    /// been missing for [`MISSING_GRACE`].
    fn missing(&mut self) {
        let since = *self.missing_since.get_or_insert_with(Instant::now);
        if self.problem.is_none() && (!self.opened || since.elapsed() >= MISSING_GRACE) {
            self.problem = Some("does not exist".to_string());
        }
    }

    /// The file cannot be read: say why, and try again from the cursor at
    /// the next poll (the lines handed out so far are in the batch, the
    /// rest is read again).
    fn failed(&mut self, e: io::Error) {
        tracing::debug!(path = %self.config.path.display(), "log file cannot be read: {e}");
        self.problem = Some(e.to_string());
        if self.file.take().is_some() {
            self.resume = Some((self.inode, self.offset));
            self.read_pos = self.offset;
        }
        self.partial.clear();
        self.skipping = false;
    }

    /// Opens the file: at the cursor, or where [`StartAt`] says. `false`
    /// when it does not exist (yet).
    fn open(&mut self) -> io::Result<bool> {
        let path = self.config.path.clone();
        if let Some((inode, offset)) = self.resume.take() {
            let rotated = rotated_name(&path);
            for candidate in [&path, &rotated] {
                match File::open(candidate) {
                    Ok(f) if f.metadata()?.ino() == inode => {
                        let len = f.metadata()?.len();
                        let at = if len < offset { 0 } else { offset };
                        self.set_file(f, inode, at)?;
                        return Ok(true);
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            tracing::warn!(
                path = %path.display(),
                "the cursor's file is gone (rotated more than once?): reading the current file from the start"
            );
            self.config.start = StartAt::Beginning;
        }
        let f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Whatever the file holds when it appears is new.
                self.config.start = StartAt::Beginning;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let meta = f.metadata()?;
        let at = match self.config.start {
            StartAt::Beginning => 0,
            StartAt::End => meta.len(),
        };
        // Later files (after a rotation) are read from their start.
        self.config.start = StartAt::Beginning;
        self.set_file(f, meta.ino(), at)?;
        if at > 0 {
            // Starting at the end: a partial last line is not ours.
            let mut last = [0u8];
            let mut f = self.file.as_ref().ok_or(io::ErrorKind::NotFound)?;
            f.seek(SeekFrom::Start(at - 1))?;
            f.read_exact(&mut last)?;
            if last[0] != b'\n' {
                self.skipping = true;
                self.fragment = true;
            }
        }
        Ok(true)
    }

    fn set_file(&mut self, mut f: File, inode: u64, at: u64) -> io::Result<()> {
        f.seek(SeekFrom::Start(at))?;
        self.file = Some(f);
        self.inode = inode;
        self.opened = true;
        self.offset = at;
        self.read_pos = at;
        self.partial.clear();
        self.skipping = false;
        self.fragment = false;
        Ok(())
    }

    /// The `n` bytes just read into the chunk: complete lines to the
    /// parser, the rest kept. Returns (lines, skipped).
    fn consume(
        &mut self,
        n: usize,
        reference: Micros,
        out: &mut Vec<Observation>,
        newest: &mut Micros,
    ) -> (u64, u64) {
        let chunk = std::mem::take(&mut self.chunk);
        let data = &chunk[..n];
        let max = self.config.max_line;
        let (mut lines, mut skipped) = (0, 0);
        let mut start = 0;
        while let Some(nl) = data[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl;
            lines += 1;
            if self.skipping {
                self.skipping = false;
                if std::mem::take(&mut self.fragment) {
                    lines -= 1;
                } else {
                    skipped += 1;
                }
            } else if self.partial.is_empty() {
                if end - start > max {
                    skipped += 1;
                } else {
                    self.line(&data[start..end], reference, out, newest);
                }
            } else if self.partial.len() + (end - start) > max {
                skipped += 1;
                self.partial.clear();
            } else {
                self.partial.extend_from_slice(&data[start..end]);
                let line = std::mem::take(&mut self.partial);
                self.line(&line, reference, out, newest);
                self.partial = line;
                self.partial.clear();
            }
            start = end + 1;
            self.offset = self.read_pos + start as u64;
        }
        let rest = &data[start..];
        if !self.skipping {
            if self.partial.len() + rest.len() > max {
                self.partial.clear();
                self.skipping = true;
            } else {
                self.partial.extend_from_slice(rest);
            }
        }
        self.read_pos += n as u64;
        self.chunk = chunk;
        (lines, skipped)
    }

    fn line(
        &mut self,
        bytes: &[u8],
        reference: Micros,
        out: &mut Vec<Observation>,
        newest: &mut Micros,
    ) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let at = match std::str::from_utf8(bytes) {
            Ok(s) => self.parser.line(s, reference, out),
            Err(_) => self
                .parser
                .line(&String::from_utf8_lossy(bytes), reference, out),
        };
        if let Some(at) = at {
            *newest = (*newest).max(at);
        }
    }
}

/// What one [`FileFollower::read_now`] has read so far.
struct Reading {
    /// "Now" for the parser (classic syslog time stamps have no year).
    reference: Micros,
    out: Vec<Observation>,
    lines: u64,
    skipped: u64,
    /// The newest event time read.
    newest: Micros,
}

/// Why [`FileFollower::read_into`] stopped.
enum Stop {
    /// The batch is full; more is there.
    Full,
    /// At the end of the file.
    CaughtUp,
    /// The path does not exist.
    Missing,
    /// The file cannot be read.
    Failed(io::Error),
}

/// logrotate's name for the file's first rotation: `PATH.1`.
fn rotated_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".1");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors() {
        assert_eq!(parse_cursor("12:34"), Some((12, 34)));
        assert_eq!(parse_cursor("12"), None);
        assert_eq!(parse_cursor("a:1"), None);
        assert_eq!(
            rotated_name(Path::new("/var/log/mail.log")),
            PathBuf::from("/var/log/mail.log.1")
        );
    }
}

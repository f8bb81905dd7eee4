//! journald, read through `journalctl -o json --follow`.
//!
//! Debian 12 and later log to journald only (no rsyslog by default), so
//! Postfix's lines are journal entries: `SYSLOG_IDENTIFIER` is the tag
//! (`postfix/smtpd`), `MESSAGE` the text after it, `__REALTIME_TIMESTAMP`
//! the time in microseconds and `__CURSOR` an opaque resume point, which
//! becomes the stream's cursor. The reader runs
//!
//! ```text
//! journalctl -o json --follow --no-tail --all -q \
//!     --output-fields=MESSAGE,SYSLOG_IDENTIFIER \
//!     -t postfix/smtpd -t postfix/postscreen -t postfix/qmgr \
//!     (--after-cursor=CURSOR | --since=now)
//! ```
//!
//! (`-t` matches are ORed; `--no-tail` because `--follow` alone starts
//! with the last 10 entries). A line that is not a journal entry is
//! skipped and counted. journalctl's standard output is read on a thread
//! of its own, so nothing blocks the runtime; the child is killed when the
//! reader is dropped.

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

use super::postfix::PostfixParser;
use super::{Batch, LogError};
use crate::model::{Micros, StreamState, now};

/// The Postfix programs whose messages count (port-25 services and qmgr).
pub const PROGRAMS: &[&str] = &["smtpd", "postscreen", "qmgr"];

/// The longest journal line read; longer ones are skipped.
const MAX_LINE: usize = 256 * 1024;

/// How the journal is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// The journalctl program (default `journalctl`, from PATH).
    pub program: PathBuf,
    /// The syslog identifiers asked for (`-t`). Default: [`PROGRAMS`]
    /// under `postfix/`; see [`JournalConfig::for_syslog_names`].
    pub identifiers: Vec<String>,
    /// Extra arguments, such as `--directory=DIR`, `--file=FILE` or
    /// `--merge`.
    pub extra_args: Vec<String>,
    /// How long an idle journal waits before yielding an empty batch that
    /// advances the watermark to "now".
    pub heartbeat: Duration,
    /// The most entries in one batch.
    pub max_batch: u64,
}

impl Default for JournalConfig {
    fn default() -> JournalConfig {
        JournalConfig::for_syslog_names(&["postfix".to_string()])
    }
}

impl JournalConfig {
    /// Asks for `NAME/smtpd`, `NAME/postscreen`, `NAME/qmgr` for each name
    /// (give the same names as [`super::ParserConfig::syslog_names`]).
    pub fn for_syslog_names(names: &[String]) -> JournalConfig {
        JournalConfig {
            program: PathBuf::from("journalctl"),
            identifiers: names
                .iter()
                .flat_map(|n| PROGRAMS.iter().map(move |p| format!("{n}/{p}")))
                .collect(),
            extra_args: Vec::new(),
            heartbeat: Duration::from_secs(1),
            max_batch: 10_000,
        }
    }

    /// journalctl's arguments, resuming after `cursor` or starting now.
    pub fn args(&self, cursor: Option<&str>) -> Vec<String> {
        let mut a: Vec<String> = [
            "-o",
            "json",
            "--follow",
            "--no-tail",
            "--all",
            "-q",
            "--output-fields=MESSAGE,SYSLOG_IDENTIFIER",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for id in &self.identifiers {
            a.push("-t".into());
            a.push(id.clone());
        }
        a.extend(self.extra_args.iter().cloned());
        match cursor {
            Some(c) => a.push(format!("--after-cursor={c}")),
            None => a.push("--since=now".into()),
        }
        a
    }
}

/// One journal entry, as far as the trap reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry<'a> {
    /// `__REALTIME_TIMESTAMP`: when journald received it, Unix µs.
    pub realtime: Micros,
    /// `SYSLOG_IDENTIFIER` (empty when absent).
    pub identifier: Cow<'a, str>,
    /// `MESSAGE` (empty when absent or too big for journalctl to print).
    pub message: Cow<'a, str>,
    /// `__CURSOR`.
    pub cursor: Cow<'a, str>,
}

/// A field's value in journalctl's JSON: a string, an array of bytes (not
/// UTF-8), or an array of values (the field appears several times).
#[derive(Deserialize)]
#[serde(untagged)]
enum Field<'a> {
    #[serde(borrow)]
    Text(Cow<'a, str>),
    Bytes(Vec<u8>),
    Many(Vec<serde_json::Value>),
}

impl<'a> Field<'a> {
    fn text(self) -> Cow<'a, str> {
        match self {
            Field::Text(t) => t,
            Field::Bytes(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
            Field::Many(v) => match v.into_iter().next() {
                Some(serde_json::Value::String(s)) => Cow::Owned(s),
                Some(serde_json::Value::Array(b)) => {
                    let bytes: Vec<u8> = b
                        .iter()
                        .filter_map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
                        .collect();
                    Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
                }
                _ => Cow::Borrowed(""),
            },
        }
    }
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(rename = "__CURSOR", borrow)]
    cursor: Cow<'a, str>,
    #[serde(rename = "__REALTIME_TIMESTAMP", borrow)]
    realtime: Cow<'a, str>,
    #[serde(rename = "SYSLOG_IDENTIFIER", borrow, default)]
    identifier: Option<Field<'a>>,
    #[serde(rename = "MESSAGE", borrow, default)]
    message: Option<Field<'a>>,
}

/// One line of `journalctl -o json`. `None` when it is not an entry with
/// a cursor and a time stamp.
pub fn parse_entry(line: &str) -> Option<JournalEntry<'_>> {
    let raw: RawEntry<'_> = serde_json::from_str(line).ok()?;
    Some(JournalEntry {
        realtime: raw.realtime.parse().ok()?,
        identifier: raw.identifier.map_or(Cow::Borrowed(""), Field::text),
        message: raw.message.map_or(Cow::Borrowed(""), Field::text),
        cursor: raw.cursor,
    })
}

enum Msg {
    Line(String),
    TooLong,
    /// journalctl's output ended; what it wrote to standard error.
    Ended(String),
}

/// Follows the journal with a child journalctl.
#[derive(Debug)]
pub struct JournalReader {
    child: Child,
    lines: mpsc::Receiver<Msg>,
    parser: PostfixParser,
    config: JournalConfig,
    cursor: Option<String>,
    watermark: Micros,
    started: Micros,
    ended: Option<LogError>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl JournalReader {
    /// Starts journalctl, after the cursor of `resume` when given, else at
    /// now. A missing journalctl is [`LogError::JournalctlMissing`].
    pub fn spawn(
        config: JournalConfig,
        parser: PostfixParser,
        resume: Option<&StreamState>,
    ) -> Result<JournalReader, LogError> {
        let cursor = resume.and_then(|s| s.cursor.clone());
        let mut child = Command::new(&config.program)
            .args(config.args(cursor.as_deref()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| {
                if source.kind() == io::ErrorKind::NotFound {
                    LogError::JournalctlMissing {
                        program: config.program.clone(),
                    }
                } else {
                    LogError::JournalctlSpawn {
                        program: config.program.clone(),
                        source,
                    }
                }
            })?;
        let (tx, rx) = mpsc::channel(4096);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        std::thread::Builder::new()
            .name("journalctl-reader".into())
            .spawn(move || read_lines(stdout, stderr, tx))
            .map_err(|source| LogError::JournalctlSpawn {
                program: config.program.clone(),
                source,
            })?;
        Ok(JournalReader {
            child,
            lines: rx,
            parser,
            config,
            cursor,
            watermark: resume.map_or(0, |s| s.watermark),
            started: now(),
            ended: None,
        })
    }

    pub fn state(&self) -> StreamState {
        StreamState {
            name: self.parser.config().stream.clone(),
            cursor: self.cursor.clone(),
            watermark: self.watermark,
            started: self.started,
            problem: None,
        }
    }

    /// Waits for entries (up to [`JournalConfig::heartbeat`]) and returns
    /// those that arrived, or an empty batch with the watermark at "now"
    /// when none came (the journal is idle and read to its end). An error
    /// when journalctl stopped. Cancellation-safe.
    pub async fn next_batch(&mut self) -> Result<Batch, LogError> {
        if let Some(e) = self.ended.take() {
            return Err(e);
        }
        let first = match tokio::time::timeout(self.config.heartbeat, self.lines.recv()).await {
            Err(_) => {
                // Idle: everything up to now has been read.
                self.watermark = self.watermark.max(now());
                return Ok(Batch {
                    observations: Vec::new(),
                    state: self.state(),
                    lines: 0,
                    skipped: 0,
                    caught_up: true,
                });
            }
            Ok(m) => m,
        };
        let mut batch = Batch {
            observations: Vec::new(),
            state: self.state(),
            lines: 0,
            skipped: 0,
            caught_up: false,
        };
        let mut next = first;
        loop {
            match next {
                Some(Msg::Line(l)) => self.entry(&l, &mut batch),
                Some(Msg::TooLong) => batch.skipped += 1,
                ended @ (Some(Msg::Ended(_)) | None) => {
                    let stderr = match ended {
                        Some(Msg::Ended(s)) => s,
                        _ => String::new(),
                    };
                    let status = match self.child.wait() {
                        Ok(s) => s.to_string(),
                        Err(e) => e.to_string(),
                    };
                    let err = LogError::JournalctlExited {
                        status,
                        stderr: stderr.trim().to_string(),
                    };
                    if batch.lines == 0 && batch.skipped == 0 {
                        return Err(err);
                    }
                    self.ended = Some(err);
                    break;
                }
            }
            if batch.lines + batch.skipped >= self.config.max_batch {
                break;
            }
            match self.lines.try_recv() {
                Ok(m) => next = Some(m),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => next = None,
            }
        }
        batch.state = self.state();
        Ok(batch)
    }

    fn entry(&mut self, line: &str, batch: &mut Batch) {
        let Some(e) = parse_entry(line) else {
            batch.skipped += 1;
            return;
        };
        batch.lines += 1;
        self.parser.message(
            e.realtime,
            &e.identifier,
            &e.message,
            &mut batch.observations,
        );
        self.watermark = self.watermark.max(e.realtime);
        self.cursor = Some(e.cursor.into_owned());
    }
}

impl Drop for JournalReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The reading thread: journalctl's lines into the channel, bounded in
/// length, then its standard error once the output ends.
fn read_lines(
    stdout: Option<std::process::ChildStdout>,
    stderr: Option<std::process::ChildStderr>,
    tx: mpsc::Sender<Msg>,
) {
    if let Some(out) = stdout {
        let mut r = BufReader::new(out);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = match (&mut r)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut buf)
            {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if n == 0 {
                break;
            }
            let msg = if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE {
                // Discard the rest of the over-long line.
                loop {
                    buf.clear();
                    match (&mut r).take(MAX_LINE as u64).read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if buf.last() == Some(&b'\n') => break,
                        Ok(_) => {}
                    }
                }
                Msg::TooLong
            } else {
                let text = String::from_utf8_lossy(&buf);
                Msg::Line(text.trim_end_matches(['\n', '\r']).to_string())
            };
            if tx.blocking_send(msg).is_err() {
                return;
            }
        }
    }
    let mut err = String::new();
    if let Some(mut e) = stderr {
        let _ = (&mut e).take(64 * 1024).read_to_string(&mut err);
    }
    let _ = tx.blocking_send(Msg::Ended(err));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::ParserConfig;
    use crate::model::{Flags, Stage};

    /// Recorded from `journalctl -o json` (systemd 252, Debian 12), one
    /// entry per line, cursors shortened.
    const SAMPLE: &str = r#"{"__CURSOR":"s=739ad463;i=4ece7;b=6c7c6013;m=17a8c6d4c;t=60495e6a21c41;x=f6b3c0a1","__REALTIME_TIMESTAMP":"1795686384123457","__MONOTONIC_TIMESTAMP":"6351056204","_BOOT_ID":"6c7c6013a8cb4c0a9f2c34a3c4e1a6b3","SYSLOG_FACILITY":"2","SYSLOG_IDENTIFIER":"postfix/postscreen","SYSLOG_PID":"812","MESSAGE":"CONNECT from [192.0.2.7]:41234 to [198.51.100.99]:25","_PID":"812","_COMM":"postscreen","PRIORITY":"6","_TRANSPORT":"syslog","SYSLOG_TIMESTAMP":"Nov 26 09:46:24 "}
{"__CURSOR":"s=739ad463;i=4ece8;b=6c7c6013;m=17a8c6d50;t=60495e6a21c42","__REALTIME_TIMESTAMP":"1795686384200000","SYSLOG_IDENTIFIER":"postfix/smtpd","MESSAGE":"connect from mail-a1.example.com[192.0.2.8]"}
{"__CURSOR":"s=739ad463;i=4ece9","__REALTIME_TIMESTAMP":"1795686384300000","SYSLOG_IDENTIFIER":"postfix/smtpd","MESSAGE":[99,111,110,110,101,99,116,32,102,114,111,109,32,117,110,107,110,111,119,110,91,49,57,50,46,48,46,50,46,57,93,255]}
{"__CURSOR":"s=739ad463;i=4ecea","__REALTIME_TIMESTAMP":"1795686384400000","SYSLOG_IDENTIFIER":["postfix/smtpd","x"],"MESSAGE":"4F2A31C0B12: client=mail-a1.example.com[192.0.2.8]"}
{"__CURSOR":"s=739ad463;i=4eceb","__REALTIME_TIMESTAMP":"1795686384500000","SYSLOG_IDENTIFIER":"postfix/qmgr","MESSAGE":"4F2A31C0B12: from=<bob@Example.com>, size=1200, nrcpt=1 (queue active)"}
{"__CURSOR":"s=739ad463;i=4ecec","__REALTIME_TIMESTAMP":"1795686384600000","SYSLOG_IDENTIFIER":"postfix/submission/smtpd","MESSAGE":"connect from unknown[192.0.2.10]"}
{"__CURSOR":"s=739ad463;i=4eced","__REALTIME_TIMESTAMP":"1795686384700000","SYSLOG_IDENTIFIER":"postfix/smtpd","MESSAGE":null}
"#;

    #[test]
    fn parses_recorded_entries() {
        let entries: Vec<JournalEntry<'_>> =
            SAMPLE.lines().map(|l| parse_entry(l).unwrap()).collect();
        assert_eq!(entries.len(), 7);
        assert_eq!(entries[0].realtime, 1_795_686_384_123_457);
        assert_eq!(entries[0].identifier, "postfix/postscreen");
        assert_eq!(
            entries[0].cursor,
            "s=739ad463;i=4ece7;b=6c7c6013;m=17a8c6d4c;t=60495e6a21c41;x=f6b3c0a1"
        );
        assert_eq!(
            entries[2].message,
            "connect from unknown[192.0.2.9]\u{fffd}"
        );
        assert_eq!(entries[3].identifier, "postfix/smtpd");
        assert_eq!(entries[6].message, "");
        for bad in [
            "",
            "{}",
            "not json",
            r#"{"__CURSOR":"c"}"#,
            r#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"x"}"#,
        ] {
            assert_eq!(parse_entry(bad), None, "{bad}");
        }
    }

    #[test]
    fn entries_become_observations() {
        let mut p = PostfixParser::new(ParserConfig::new("journal"));
        let mut out = Vec::new();
        for l in SAMPLE.lines() {
            let e = parse_entry(l).unwrap();
            p.message(e.realtime, &e.identifier, &e.message, &mut out);
        }
        assert_eq!(out.len(), 4, "{out:#?}");
        assert_eq!(out[0].local, Some("198.51.100.99".parse().unwrap()));
        assert_eq!(out[0].at, 1_795_686_384_123_457);
        assert_eq!(out[1].client_name.as_deref(), Some("mail-a1.example.com"));
        assert_eq!(
            out[2].client,
            "192.0.2.9".parse::<std::net::IpAddr>().unwrap()
        );
        assert_eq!(out[3].flags, Flags::ACCEPTED);
        assert_eq!(out[3].stage, Stage::Data);
        assert_eq!(out[3].mail_domain.as_deref(), Some("example.com"));
    }

    #[test]
    fn arguments() {
        let c = JournalConfig::default();
        let a = c.args(None);
        assert!(a.contains(&"--since=now".to_string()));
        assert!(a.windows(2).any(|w| w == ["-t", "postfix/postscreen"]));
        let a = c.args(Some("s=1;i=2"));
        assert_eq!(a.last().map(String::as_str), Some("--after-cursor=s=1;i=2"));
        assert!(!a.contains(&"--since=now".to_string()));
    }
}

//! The log readers: a real Postfix's log followed while a client sends it a
//! message; rotation, truncation, partial and over-long lines on plain
//! files; journald through a stand-in journalctl.
//!
//! The Postfix tests need root and Debian's postfix package, like the rest
//! of the SMTP test bed: they fail (never skip) when it is missing.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use mxkit_trap::logs::journal::JournalConfig;
use mxkit_trap::logs::{
    Batch, FileFollower, FollowConfig, JournalReader, LogError, ParserConfig, PostfixParser,
    StartAt,
};
use mxkit_trap::model::{Flags, Micros, Observation, Role, Stage, StreamState, now};
use testbed::postfix::{Postfix, PostfixInstance};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;
use tokio::net::tcp::OwnedWriteHalf;

/// How long anything asynchronous (Postfix logging, delivery) may take.
const WAIT: Duration = Duration::from_secs(30);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn follower(path: &Path, start: StartAt, resume: Option<&StreamState>) -> FileFollower {
    let mut c = FollowConfig::new(path);
    c.start = start;
    c.poll = Duration::from_millis(20);
    c.heartbeat = Duration::from_millis(50);
    // Postfix's maillog_file has local time without a zone.
    let mut p = ParserConfig::new("mx");
    p.utc_offset = mxkit_trap::logs::postfix::system_utc_offset().expect("date +%z");
    FileFollower::new(c, PostfixParser::new(p), resume).unwrap()
}

/// Follows until `done` holds for everything observed so far; panics with
/// `context()` (the log) at the deadline.
async fn follow_until(
    f: &mut FileFollower,
    seen: &mut Vec<Observation>,
    what: &str,
    context: impl Fn() -> String,
    done: impl Fn(&[Observation]) -> bool,
) -> Batch {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let batch = match tokio::time::timeout_at(deadline, f.next_batch()).await {
            Ok(b) => b.unwrap(),
            Err(_) => panic!(
                "{what}: not observed within {WAIT:?}; observed: {seen:#?}\n--- log ---\n{}",
                context()
            ),
        };
        seen.extend(batch.observations.iter().cloned());
        if done(seen) {
            return batch;
        }
    }
}

// ---- a raw SMTP client bound to a chosen loopback source address ----

struct Client {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(from: IpAddr, to: SocketAddr) -> Client {
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(from, 0))
            .unwrap_or_else(|e| panic!("bind {from}: {e}"));
        let stream = tokio::time::timeout(WAIT, socket.connect(to))
            .await
            .unwrap_or_else(|_| panic!("connect {to}: timed out"))
            .unwrap_or_else(|e| panic!("connect {to}: {e}"));
        let (r, w) = stream.into_split();
        Client {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    async fn line(&mut self) -> String {
        let mut l = String::new();
        tokio::time::timeout(WAIT, self.reader.read_line(&mut l))
            .await
            .expect("reply timed out")
            .expect("read");
        l
    }

    /// A whole reply (until the `NNN ` line); its lines.
    async fn reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.line().await;
            assert!(!l.is_empty(), "connection closed after {lines:?}");
            let last = l.as_bytes().get(3) == Some(&b' ');
            lines.push(l);
            if last {
                return lines;
            }
        }
    }

    async fn send(&mut self, cmd: &str) {
        self.writer
            .write_all(format!("{cmd}\r\n").as_bytes())
            .await
            .unwrap();
    }

    async fn command(&mut self, cmd: &str, want: &str) {
        self.send(cmd).await;
        let r = self.reply().await;
        assert!(
            r.last().is_some_and(|l| l.starts_with(want)),
            "{cmd}: {r:?}"
        );
    }

    /// EHLO, one message from `from` to `to`, QUIT.
    async fn deliver(&mut self, from: &str, to: &str) {
        let greeting = self.reply().await;
        assert!(greeting.last().unwrap().starts_with("220 "), "{greeting:?}");
        self.command("EHLO client.logs.test", "250").await;
        self.command(&format!("MAIL FROM:<{from}>"), "250").await;
        self.command(&format!("RCPT TO:<{to}>"), "250").await;
        self.command("DATA", "354").await;
        self.command("Subject: log test\r\nFrom: <a@b>\r\n\r\nhello\r\n.", "250")
            .await;
        self.command("QUIT", "221").await;
    }
}

fn find(
    seen: &[Observation],
    client: IpAddr,
    f: impl Fn(&Observation) -> bool,
) -> Option<&Observation> {
    seen.iter().find(|o| o.client == client && f(o))
}

#[tokio::test]
async fn real_postfix_connect_and_accepted() {
    let pf = Postfix::start(&[PostfixInstance::new(
        "127.0.71.2:25".parse().unwrap(),
        "mx.logs.test",
    )]);
    let log = pf.dir().join("maillog");
    let before = now();
    let mut f = follower(&log, StartAt::Beginning, None);
    let client = ip("127.0.71.10");

    let mut c = Client::connect(client, pf.addr(0)).await;
    c.deliver("Alice.Sender@Sender.Logs.Test", "bob@example.test")
        .await;
    pf.wait_for_messages(1, WAIT);

    let mut seen = Vec::new();
    let batch = follow_until(
        &mut f,
        &mut seen,
        "connect and accepted from 127.0.71.10",
        || pf.log(),
        |s| {
            find(s, client, |o| o.stage == Stage::Connect).is_some()
                && find(s, client, |o| o.flags.contains(Flags::ACCEPTED)).is_some()
        },
    )
    .await;

    // maillog_file (Postfix 3.7) writes classic syslog time stamps
    // (`Nov 26 09:56:34 mx postfix/smtpd[3882]: ...`): every line splits.
    let text = pf.log();
    for l in text.lines() {
        assert!(
            mxkit_trap::logs::postfix::split_line(l, now(), 0).is_some(),
            "not a syslog line: {l:?}"
        );
    }
    let connect = find(&seen, client, |o| o.stage == Stage::Connect).unwrap();
    assert_eq!(connect.role, Role::Primary);
    assert_eq!(connect.stream, "mx");
    assert_eq!(connect.local, None, "smtpd does not log the local address");
    assert_eq!(connect.client_name, None, "unknown[...] is no name");
    let at = connect.at;
    assert!(
        at >= before - 2_000_000 && at <= now() + 2_000_000,
        "connect time {} not within the test's run ({before}..)\n{}",
        connect.at,
        pf.log()
    );

    let accepted = find(&seen, client, |o| o.flags.contains(Flags::ACCEPTED)).unwrap();
    assert_eq!(accepted.stage, Stage::Data);
    assert_eq!(accepted.mail_domain.as_deref(), Some("sender.logs.test"));
    assert!(
        !format!("{accepted:?}").to_lowercase().contains("alice"),
        "no local part: {accepted:?}"
    );
    // Nothing from the test bed's own readiness probe is taken for ours.
    assert!(seen.iter().all(|o| o.role == Role::Primary));

    // The cursor is this file at a line end no further than its length.
    let (inode, offset) = batch
        .state
        .cursor
        .as_deref()
        .unwrap()
        .split_once(':')
        .unwrap();
    let meta = fs::metadata(&log).unwrap();
    assert_eq!(inode.parse::<u64>().unwrap(), meta.ino());
    let offset: u64 = offset.parse().unwrap();
    assert!(offset <= meta.len());
    let text = fs::read(&log).unwrap();
    assert_eq!(
        text[offset as usize - 1],
        b'\n',
        "the cursor is at a line end"
    );
    assert!(batch.state.watermark >= accepted.at, "{:?}", batch.state);
}

#[tokio::test]
async fn real_postscreen_connect_local_address_and_pregreet() {
    let pf = Postfix::start_with(
        &[PostfixInstance::new("127.0.71.3:25".parse().unwrap(), "ps.logs.test").postscreen()],
        testbed::postfix::DEFAULT_DOMAINS,
        // Only the readiness probe (127.0.0.1) is allowlisted; the test
        // clients go through the greet test, kept short.
        &[
            ("mynetworks", "127.0.0.1/32"),
            ("postscreen_greet_wait", "1s"),
        ],
    );
    let log = pf.dir().join("maillog");
    let mut f = follower(&log, StartAt::Beginning, None);
    let local = ip("127.0.71.3");
    let (good, early) = (ip("127.0.71.10"), ip("127.0.71.11"));

    // A client that talks before its turn: PREGREET.
    let mut c = Client::connect(early, pf.addr(0)).await;
    let teaser = c.line().await;
    assert!(
        teaser.starts_with("220-"),
        "postscreen's teaser banner: {teaser:?}"
    );
    c.send("EHLO early.logs.test").await;
    pf.wait_for_log("PREGREET", WAIT);
    drop(c);

    // A patient client: passes postscreen, then smtpd accepts its message.
    let mut c = Client::connect(good, pf.addr(0)).await;
    c.deliver("someone@patient.logs.test", "bob@example.test")
        .await;
    pf.wait_for_messages(1, WAIT);

    let mut seen = Vec::new();
    follow_until(
        &mut f,
        &mut seen,
        "postscreen events",
        || pf.log(),
        |s| {
            find(s, early, |o| o.flags.contains(Flags::PREGREET)).is_some()
                && find(s, good, |o| o.flags.contains(Flags::ACCEPTED)).is_some()
        },
    )
    .await;

    let connect = find(&seen, early, |o| o.flags.is_empty()).unwrap();
    assert_eq!(
        (connect.stage, connect.local),
        (Stage::Connect, Some(local))
    );
    let pregreet = find(&seen, early, |o| o.flags.contains(Flags::PREGREET)).unwrap();
    assert_eq!(pregreet.local, Some(local), "from its CONNECT line");
    assert!(pregreet.at >= connect.at, "the PREGREET line's time");

    // The patient client: postscreen's CONNECT (with the local address),
    // smtpd's connect (without), and the accepted message.
    let ps = find(&seen, good, |o| o.local == Some(local)).unwrap();
    assert_eq!(ps.stage, Stage::Connect);
    assert!(
        find(&seen, good, |o| o.stage == Stage::Connect
            && o.local.is_none())
        .is_some()
    );
    let accepted = find(&seen, good, |o| o.flags.contains(Flags::ACCEPTED)).unwrap();
    assert_eq!(accepted.mail_domain.as_deref(), Some("patient.logs.test"));
    assert!(
        !seen
            .iter()
            .any(|o| o.client == early && o.flags.contains(Flags::ACCEPTED)),
        "{seen:#?}"
    );
}

// ---- plain files ----

fn line(n: u8, secs: i64) -> String {
    // 2020-01-01T00:00:00Z + secs: far from now, so the watermark shows
    // whether it came from the lines or from "now".
    let t = 1_577_836_800 + secs;
    let (h, m, s) = (t % 86_400 / 3600, t % 3600 / 60, t % 60);
    format!(
        "2020-01-01T{h:02}:{m:02}:{s:02}.000000+00:00 mx postfix/smtpd[7]: connect from unknown[192.0.2.{n}]\n"
    )
}

fn at(secs: i64) -> Micros {
    (1_577_836_800 + secs) * 1_000_000
}

fn append(path: &Path, text: &str) {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

fn clients(b: &Batch) -> Vec<IpAddr> {
    b.observations.iter().map(|o| o.client).collect()
}

fn cursor(path: &Path, offset: u64) -> String {
    format!("{}:{offset}", fs::metadata(path).unwrap().ino())
}

#[test]
fn partial_line_waits_for_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    let l1 = line(1, 0);
    let l2 = line(2, 1);
    let (head, tail) = l2.split_at(30);
    append(&path, &format!("{l1}{head}"));

    let mut f = follower(&path, StartAt::Beginning, None);
    let b = f.read_now().unwrap();
    assert_eq!(clients(&b), [ip("192.0.2.1")]);
    assert_eq!(b.lines, 1);
    assert_eq!(b.state.cursor, Some(cursor(&path, l1.len() as u64)));
    assert!(b.caught_up);
    // A line is pending: the watermark is the newest event, not now.
    assert_eq!(b.state.watermark, at(0));

    append(&path, tail);
    let before = now();
    let b = f.read_now().unwrap();
    assert_eq!(clients(&b), [ip("192.0.2.2")]);
    assert_eq!(
        b.state.cursor,
        Some(cursor(&path, (l1.len() + l2.len()) as u64))
    );
    // Caught up with nothing pending: the watermark is now.
    assert!(b.state.watermark >= before, "{:?}", b.state);

    let b = f.read_now().unwrap();
    assert_eq!((b.lines, b.observations.len()), (0, 0));
}

#[test]
fn rotation_finishes_the_old_file_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    append(&path, &line(1, 0));
    let mut f = follower(&path, StartAt::Beginning, None);
    assert_eq!(clients(&f.read_now().unwrap()), [ip("192.0.2.1")]);

    // Written to the old file after the last read, then rotated.
    append(&path, &line(2, 1));
    fs::rename(&path, dir.path().join("mail.log.1")).unwrap();
    append(&dir.path().join("mail.log.1"), &line(3, 2));
    append(&path, &format!("{}{}", line(4, 3), line(5, 4)));

    let b = f.read_now().unwrap();
    assert_eq!(
        clients(&b),
        [
            ip("192.0.2.2"),
            ip("192.0.2.3"),
            ip("192.0.2.4"),
            ip("192.0.2.5")
        ]
    );
    let new_len = fs::metadata(&path).unwrap().len();
    assert_eq!(b.state.cursor, Some(cursor(&path, new_len)));
    assert!(b.caught_up);
}

#[test]
fn resume_after_rotation_while_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    append(&path, &line(1, 0));
    let state = {
        let mut f = follower(&path, StartAt::Beginning, None);
        assert_eq!(clients(&f.read_now().unwrap()), [ip("192.0.2.1")]);
        f.state()
    };
    // While the reader is stopped: more lines, rotation, a new file.
    append(&path, &line(2, 1));
    fs::rename(&path, dir.path().join("mail.log.1")).unwrap();
    append(&path, &line(3, 2));

    let mut f = follower(&path, StartAt::End, Some(&state));
    let b = f.read_now().unwrap();
    assert_eq!(clients(&b), [ip("192.0.2.2"), ip("192.0.2.3")]);
    assert_eq!(
        b.state.cursor,
        Some(cursor(&path, fs::metadata(&path).unwrap().len()))
    );
}

#[test]
fn resume_from_cursor_reads_only_new_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    append(&path, &format!("{}{}", line(1, 0), line(2, 1)));
    let state = {
        let mut f = follower(&path, StartAt::Beginning, None);
        assert_eq!(f.read_now().unwrap().observations.len(), 2);
        f.state()
    };
    assert_eq!(state.name, "mx");
    append(&path, &line(3, 2));
    let mut f = follower(&path, StartAt::Beginning, Some(&state));
    assert_eq!(
        f.state().cursor,
        state.cursor,
        "before reading, the resumed cursor"
    );
    assert_eq!(clients(&f.read_now().unwrap()), [ip("192.0.2.3")]);
}

#[test]
fn truncation_restarts_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    append(
        &path,
        &format!("{}{}{}", line(1, 0), line(2, 1), line(3, 2)),
    );
    let mut f = follower(&path, StartAt::Beginning, None);
    assert_eq!(f.read_now().unwrap().observations.len(), 3);

    // copytruncate: same inode, shorter content.
    fs::File::create(&path)
        .unwrap()
        .write_all(line(4, 3).as_bytes())
        .unwrap();
    let b = f.read_now().unwrap();
    assert_eq!(clients(&b), [ip("192.0.2.4")]);
    assert_eq!(b.state.cursor, Some(cursor(&path, line(4, 3).len() as u64)));
}

#[test]
fn start_at_end_skips_old_lines_and_the_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    let l2 = line(2, 1);
    let (head, tail) = l2.split_at(40);
    append(&path, &format!("{}{head}", line(1, 0)));
    let mut f = follower(&path, StartAt::End, None);
    let b = f.read_now().unwrap();
    assert_eq!((b.lines, b.skipped), (0, 0));
    append(&path, &format!("{tail}{}", line(3, 2)));
    let b = f.read_now().unwrap();
    assert_eq!(clients(&b), [ip("192.0.2.3")]);
    assert_eq!(
        (b.lines, b.skipped),
        (1, 0),
        "the fragment is neither a line nor skipped"
    );
}

#[test]
fn over_long_lines_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    let mut c = FollowConfig::new(&path);
    c.start = StartAt::Beginning;
    c.max_line = 200;
    let mut f = FileFollower::new(c, PostfixParser::new(ParserConfig::new("mx")), None).unwrap();

    // One long line in a single write, one arriving in pieces over reads,
    // one bigger than a read chunk, each followed by a good line.
    append(&path, &format!("{}\n{}", "x".repeat(500), line(1, 0)));
    let b = f.read_now().unwrap();
    assert_eq!((clients(&b), b.skipped), (vec![ip("192.0.2.1")], 1));

    append(&path, &"y".repeat(150));
    assert_eq!(f.read_now().unwrap().lines, 0);
    append(&path, &"y".repeat(150));
    assert_eq!(f.read_now().unwrap().lines, 0);
    append(&path, &format!("yyy\n{}", line(2, 1)));
    let b = f.read_now().unwrap();
    assert_eq!((clients(&b), b.skipped), (vec![ip("192.0.2.2")], 1));

    append(&path, &format!("{}\n{}", "z".repeat(200_000), line(3, 2)));
    let b = f.read_now().unwrap();
    assert_eq!((clients(&b), b.skipped), (vec![ip("192.0.2.3")], 1));
    assert_eq!(f.totals(), (6, 3));
    let len = fs::metadata(&path).unwrap().len();
    assert_eq!(b.state.cursor, Some(cursor(&path, len)));
}

#[tokio::test]
async fn idle_stream_advances_its_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    append(&path, &line(1, 0));
    let mut f = follower(&path, StartAt::Beginning, None);
    let first = tokio::time::timeout(WAIT, f.next_batch())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.observations.len(), 1);
    let mark = now();
    // Nothing new: the next batches are heartbeats whose watermark moves on.
    let idle = tokio::time::timeout(WAIT, async {
        loop {
            let b = f.next_batch().await.unwrap();
            assert!(b.observations.is_empty() && b.caught_up);
            if b.state.watermark > mark {
                return b;
            }
        }
    })
    .await
    .expect("no heartbeat batch");
    assert_eq!(idle.state.cursor, first.state.cursor);
}

#[tokio::test]
async fn a_file_that_appears_later_is_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    let mut f = follower(&path, StartAt::End, None);
    let b = f.read_now().unwrap();
    assert!(b.caught_up && b.state.cursor.is_none());
    append(&path, &line(1, 0));
    let mut seen = Vec::new();
    follow_until(&mut f, &mut seen, "the first line", String::new, |s| {
        !s.is_empty()
    })
    .await;
    assert_eq!(seen[0].client, ip("192.0.2.1"));
}

// ---- journald through a stand-in journalctl ----

/// Two entries as `journalctl -o json` prints them.
const JOURNAL: &str = concat!(
    r#"{"__CURSOR":"s=1;i=1","__REALTIME_TIMESTAMP":"1795686384000001","SYSLOG_IDENTIFIER":"postfix/smtpd","MESSAGE":"connect from unknown[192.0.2.1]"}"#,
    "\n",
    "garbage\n",
    r#"{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1795686384000002","SYSLOG_IDENTIFIER":"postfix/postscreen","MESSAGE":"CONNECT from [192.0.2.2]:4000 to [198.51.100.1]:25"}"#,
    "\n"
);

/// A journalctl that records its arguments and then prints `entries` and
/// follows them (`tail -f`), as `journalctl --follow` does.
fn fake_journalctl(dir: &Path, entries: &str) -> std::path::PathBuf {
    let data = dir.join("entries.json");
    fs::write(&data, entries).unwrap();
    let script = dir.join("journalctl");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {args}\nexec tail -n +1 -f {data}\n",
            args = dir.join("args").display(),
            data = data.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test]
async fn journal_reader_follows_and_keeps_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let config = JournalConfig {
        program: fake_journalctl(dir.path(), JOURNAL),
        heartbeat: Duration::from_millis(50),
        ..JournalConfig::default()
    };
    let parser = PostfixParser::new(ParserConfig::new("journal"));
    let mut r = JournalReader::spawn(config.clone(), parser, None).unwrap();

    let mut seen = Vec::new();
    let mut skipped = 0;
    let state = tokio::time::timeout(WAIT, async {
        loop {
            let b = r.next_batch().await.unwrap();
            seen.extend(b.observations);
            skipped += b.skipped;
            if seen.len() == 2 {
                return b.state;
            }
        }
    })
    .await
    .expect("journal entries not read");
    assert_eq!(seen[0].client, ip("192.0.2.1"));
    assert_eq!(seen[1].local, Some(ip("198.51.100.1")));
    assert_eq!(skipped, 1);
    assert_eq!(state.cursor.as_deref(), Some("s=1;i=2"));
    assert_eq!(state.watermark, 1_795_686_384_000_002);
    let args = fs::read_to_string(dir.path().join("args")).unwrap();
    assert!(args.lines().any(|a| a == "--since=now"), "{args}");
    assert!(args.lines().any(|a| a == "postfix/smtpd"), "{args}");

    // Idle: a heartbeat batch moves the watermark to now.
    let mark = now();
    let idle = tokio::time::timeout(WAIT, async {
        loop {
            let b = r.next_batch().await.unwrap();
            if b.state.watermark >= mark {
                return b;
            }
        }
    })
    .await
    .expect("no heartbeat");
    assert!(idle.observations.is_empty() && idle.caught_up);
    drop(r);

    // Restarted with the stored state: resumes after the cursor.
    let parser = PostfixParser::new(ParserConfig::new("journal"));
    let r = JournalReader::spawn(config, parser, Some(&state)).unwrap();
    let args_path = dir.path().join("args");
    let deadline = std::time::Instant::now() + WAIT;
    let args = loop {
        let a = fs::read_to_string(&args_path).unwrap_or_default();
        if a.contains("--after-cursor") {
            break a;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "journalctl not restarted: {a}"
        );
        tokio::task::yield_now().await;
    };
    assert!(
        args.lines().any(|a| a == "--after-cursor=s=1;i=2"),
        "{args}"
    );
    assert!(!args.contains("--since"), "{args}");
    drop(r);
}

#[tokio::test]
async fn journal_reader_errors() {
    let config = JournalConfig {
        program: "/nonexistent/journalctl".into(),
        ..JournalConfig::default()
    };
    let parser = PostfixParser::new(ParserConfig::new("journal"));
    match JournalReader::spawn(config, parser, None) {
        Err(e @ LogError::JournalctlMissing { .. }) => {
            assert!(e.to_string().contains("journalctl not found"), "{e}")
        }
        other => panic!("expected JournalctlMissing, got {other:?}"),
    }

    // journalctl that gives up (no journal here) is an error with its words.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("journalctl");
    fs::write(
        &script,
        "#!/bin/sh\necho 'No journal files were found.' >&2\nexit 1\n",
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let config = JournalConfig {
        program: script,
        heartbeat: Duration::from_millis(50),
        ..JournalConfig::default()
    };
    let parser = PostfixParser::new(ParserConfig::new("journal"));
    let mut r = JournalReader::spawn(config, parser, None).unwrap();
    let err = tokio::time::timeout(WAIT, async {
        loop {
            if let Err(e) = r.next_batch().await {
                return e;
            }
        }
    })
    .await
    .expect("journalctl's exit not reported");
    assert!(
        matches!(&err, LogError::JournalctlExited { stderr, .. } if stderr.contains("No journal files")),
        "{err}"
    );
}

/// The installed journalctl accepts the reader's arguments (no journald
/// runs in the test environment: an empty journal folder makes it stop,
/// with nothing to say about its options).
#[tokio::test]
async fn real_journalctl_accepts_the_arguments() {
    let program =
        testbed::sys::find_program("journalctl", &["/usr/bin/journalctl", "/bin/journalctl"])
            .expect("journalctl not found: install systemd (Debian's package systemd)");
    let dir = tempfile::tempdir().unwrap();
    let config = JournalConfig {
        program,
        extra_args: vec![format!("--directory={}", dir.path().display())],
        heartbeat: Duration::from_millis(50),
        ..JournalConfig::default()
    };
    let parser = PostfixParser::new(ParserConfig::new("journal"));
    let mut r = JournalReader::spawn(config, parser, None).unwrap();
    let err = tokio::time::timeout(WAIT, async {
        loop {
            if let Err(e) = r.next_batch().await {
                return e;
            }
        }
    })
    .await
    .expect("journalctl on an empty journal folder did not stop");
    let LogError::JournalctlExited { stderr, .. } = &err else {
        panic!("{err}");
    };
    for bad in ["unrecognized", "invalid", "Unknown", "Failed to parse"] {
        assert!(
            !stderr.contains(bad),
            "journalctl refused an argument: {stderr}"
        );
    }
}

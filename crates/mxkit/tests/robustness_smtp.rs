//! Robustness of the SMTP client: what a server sends and what a message
//! file holds never make it panic, hang or keep more than the documented
//! limits. The same two paths as the cargo-fuzz targets `smtp_reply` and
//! `message` in `fuzz/` (which need nightly), here as seeded property tests
//! so that the normal test suite runs them:
//!
//! - server bytes -> `smtp::attempt_on` over a `tokio::io::duplex` pipe,
//!   TLS off, as a probe to RCPT (two recipients) and delivering a small
//!   message: random bytes, and scripts of replies built from real and
//!   hostile lines (long lines and replies at the limits, bare LF, invalid
//!   UTF-8, odd codes, EHLO keywords with bad values), sent at once or in
//!   pieces, answered in lock step with the client's commands or not;
//! - message bytes and header values -> `Message::prepare`, and any text ->
//!   `validate_address`.
//!
//! The generated server inputs end with EOF (or a dropped connection), so
//! no timeout is ever waited for and each case takes well under a
//! millisecond on the real clock. Silent servers (the deadlines) are
//! covered by a few explicit cases on the real clock, with stage timeouts
//! of 50-200 ms and an overall deadline of 1 s, and by a property on
//! tokio's paused clock (`test-util`), where the runtime jumps to the next
//! timer when both ends wait: over an in-memory pipe that is exact, so the
//! overall deadline can be checked to the millisecond.

use std::time::Duration;

use mxkit::smtp::{
    Attempt, AttemptOutcome, Direction, MAX_REPLY_BYTES, MAX_REPLY_LINE, MAX_REPLY_LINES, Message,
    Mode, SmtpOptions, Stage, attempt_on,
};
use proptest::prelude::*;
use tokio::io::{AsyncWriteExt, BufReader, DuplexStream};
use tokio::time::Instant;

/// Cases per property. `PROPTEST_CASES` in the environment overrides it.
const CASES: u32 = 256;
/// The seed of every property (docs/design.md, "Conventions": randomness
/// seeded); `PROPTEST_RNG_SEED` in the environment overrides it.
const SEED: u64 = 20_250_602;

#[path = "support/seeded.rs"]
mod seeded;

fn config() -> ProptestConfig {
    seeded::config(CASES, SEED)
}

// ---------------------------------------------------------------------------
// The session under test (shared with the fuzz targets).

#[path = "support/smtp_checks.rs"]
mod smtp_checks;
use smtp_checks::*;

/// Real-clock slack on top of the overall deadline (a loaded test machine).
const SLACK: Duration = Duration::from_millis(1500);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Send everything, end its side (EOF), go on reading.
    Eof,
    /// Send everything, drop the connection (writes fail too).
    Drop,
    /// Send everything, stay open and silent.
    Silent,
    /// Greet with the first piece, answer each command line with the next
    /// one (a message after a `354` piece counts as one), then EOF.
    LockStep,
}

/// What the fake server sends and how.
#[derive(Clone, Debug)]
struct Server {
    pieces: Vec<Vec<u8>>,
    end: End,
    /// Bytes per write (0: each piece at once), with a yield between writes.
    chunk: usize,
}

impl Server {
    fn all_at_once(bytes: &[u8], end: End) -> Self {
        Server {
            pieces: vec![bytes.to_vec()],
            end,
            chunk: 0,
        }
    }
}

async fn serve(stream: DuplexStream, server: &Server) {
    let (r, mut w) = tokio::io::split(stream);
    let all = server.pieces.concat();
    let chunk = server.chunk;
    match server.end {
        End::Eof => {
            let write = async {
                send(&mut w, &all, chunk).await;
                let _ = w.shutdown().await;
            };
            tokio::join!(write, drain(r));
        }
        End::Drop => {
            send(&mut w, &all, chunk).await;
            drop((r, w));
        }
        End::Silent => {
            let write = async {
                send(&mut w, &all, chunk).await;
                std::future::pending::<()>().await;
            };
            tokio::select! {
                () = write => {}
                () = drain(r) => {}
            }
        }
        End::LockStep => {
            let mut r = BufReader::new(r);
            let mut line = Vec::new();
            let mut command: &[u8] = b"";
            // The greeting, then one piece per command.
            for piece in server.pieces.iter() {
                if !send(&mut w, piece, chunk).await || !complete(piece) {
                    break;
                }
                let in_data = command.eq_ignore_ascii_case(b"DATA") && starts_data(piece);
                read_command(&mut r, &mut line, in_data).await;
                if line.is_empty() {
                    break;
                }
                command = line.trim_ascii_end();
            }
            let _ = w.shutdown().await;
            drain(r).await;
        }
    }
}

/// The client reading `piece` stops inside it: it ends with LF and its
/// last line is not a continuation line (`250-`). Otherwise the lock-step
/// server ends its side, so that the client meets EOF instead of waiting
/// (for a timeout) for the rest of the reply.
fn complete(piece: &[u8]) -> bool {
    let Some(body) = piece.strip_suffix(b"\n") else {
        return false;
    };
    let last = body.rsplit(|&b| b == b'\n').next().unwrap_or_default();
    !(last.len() >= 4 && last[..3].iter().all(u8::is_ascii_digit) && last[3] == b'-')
}

/// `piece` is one final `354` line: the client sends the message after it.
fn starts_data(piece: &[u8]) -> bool {
    let first = piece.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    piece.iter().filter(|&&b| b == b'\n').count() == 1
        && (first == b"354" || first.starts_with(b"354 "))
}

/// One attempt against `server`: the attempt and how long it took.
async fn session(server: &Server, opts: &SmtpOptions, mode: Mode<'_>) -> (Attempt, Duration) {
    let (client, peer) = tokio::io::duplex(64 * 1024);
    let candidate = candidate();
    let start = Instant::now();
    let run = async {
        let attempt = attempt_on(client, &candidate, opts, mode).await;
        (attempt, start.elapsed())
    };
    // A guard well past the overall deadline: the attempt must end.
    tokio::time::timeout(opts.timeouts.overall * 4, async {
        tokio::join!(run, serve(peer, server)).0
    })
    .await
    .expect("the attempt did not end")
}

/// Both modes against `server`, each checked. `paused`: tokio's paused
/// clock, where the overall deadline holds exactly.
fn both_modes(server: &Server, short_overall: bool, paused: bool) -> [Attempt; 2] {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(paused)
        .build()
        .unwrap();
    let opts = options(short_overall);
    let message = message();
    let limit = opts.timeouts.overall + if paused { Duration::ZERO } else { SLACK };
    [false, true].map(|deliver| {
        let mode = if deliver {
            Mode::Deliver(&message)
        } else {
            Mode::Probe
        };
        let (attempt, elapsed) = rt.block_on(session(server, &opts, mode));
        assert!(
            elapsed <= limit,
            "the attempt took {elapsed:?} (limit {limit:?}): {:?}",
            attempt.outcome
        );
        check(&attempt, deliver);
        attempt
    })
}

// ---------------------------------------------------------------------------
// Checks.

/// A reply within the documented limits.
fn reason(outcome: &AttemptOutcome) -> &str {
    match outcome {
        AttemptOutcome::Soft { reason, .. } | AttemptOutcome::Hard { reason, .. } => reason,
        _ => "",
    }
}

// ---------------------------------------------------------------------------
// Strategies: server input.

/// Reply lines a real, broken or hostile server may send, without line end.
fn reply_line() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"220 mx.example.org ESMTP",
        b"220-mx.example.org hello",
        b"220",
        b"250-mx.example.org",
        b"250-PIPELINING",
        b"250-SIZE 10240000",
        b"250-SIZE 100",
        b"250-SIZE 99999999999999999999999999",
        b"250-SIZE -1",
        b"250-SIZE",
        b"250-8BITMIME",
        b"250-SMTPUTF8",
        b"250-STARTTLS",
        b"250-AUTH PLAIN LOGIN",
        b"250 SMTPUTF8",
        b"250 OK",
        b"250 2.1.0 Ok",
        b"250 2.0.0 Ok: queued as 4ABC123",
        b"250 OK id=1abcde-000123-AB",
        b"250 x7GHi012345 Message accepted for delivery",
        b"250 queued as ",
        b"250 5.0.0 odd enhanced code",
        b"250 2.999.999 big enhanced code",
        b"250 2.0",
        b"221 2.0.0 Bye",
        b"354 End data with <CR><LF>.<CR><LF>",
        b"354-go on",
        b"421 4.3.2 Service not available, closing",
        b"450 4.2.0 mailbox busy",
        b"451 4.3.0 try later",
        b"452 4.5.3 too many recipients",
        b"500 5.5.1 unrecognised",
        b"502 5.5.2 not implemented",
        b"550 5.1.1 no such user",
        b"552 5.3.4 too big",
        b"554 5.7.1 go away",
        b"099 low code",
        b"600 high code",
        b"999 nope",
        b"25",
        b"250x",
        b"2500 four digits",
        b"HTTP/1.1 400 Bad Request",
        b"",
        b"250 \xff\xfe invalid \xc3 utf-8",
        b"250 bare\rcr inside",
        b"250 nul \0 inside",
        b"250-\x1b[31mescape",
    ];
    prop_oneof![
        6 => prop::sample::select(fixed).prop_map(<[u8]>::to_vec),
        // The limits: a line of MAX_REPLY_LINE octets, and one more.
        1 => (prop::sample::select(vec![b"220 ", b"250-", b"250 "]), 0..3usize).prop_map(|(code, extra)| {
            let mut line = code.to_vec();
            line.resize(MAX_REPLY_LINE - 1 + extra, b'x');
            line
        }),
        2 => ("[0-9]{3}[ -]?[ -~]{0,40}").prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..40),
    ]
}

fn line_end() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![
        8 => Just(&b"\r\n"[..]),
        2 => Just(&b"\n"[..]),
        1 => Just(&b"\r"[..]),
        1 => Just(&b"\r\r\n"[..]),
    ]
}

/// One reply: some lines (sometimes very many), each with a line end.
fn reply() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec((reply_line(), line_end()), 1..5),
        // Around MAX_REPLY_LINES lines, and around MAX_REPLY_BYTES octets.
        1 => (MAX_REPLY_LINES - 1..MAX_REPLY_LINES + 2, 1..40usize).prop_map(|(n, len)| {
            let mut lines = vec![(format!("250-{}", "y".repeat(len)).into_bytes(), &b"\r\n"[..]); n];
            lines.push((b"250 last".to_vec(), &b"\r\n"[..]));
            lines
        }),
        1 => (14..18usize).prop_map(|n| {
            let mut line = b"250-".to_vec();
            line.resize(MAX_REPLY_LINE, b'z');
            let mut lines = vec![(line, &b"\r\n"[..]); n];
            lines.push((b"250 last".to_vec(), &b"\r\n"[..]));
            lines
        }),
    ]
    .prop_map(|lines| {
        lines
            .into_iter()
            .flat_map(|(line, end)| [line, end.to_vec()].concat())
            .collect()
    })
}

/// A well-behaved session's replies, to start scripts from.
fn happy_path() -> Vec<Vec<u8>> {
    [
        "220 mx.example.org ESMTP\r\n",
        "250-mx.example.org\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n",
        "250 2.1.0 Ok\r\n",
        "250 2.1.5 Ok\r\n",
        "250 2.1.5 Ok\r\n",
        "354 End data\r\n",
        "250 2.0.0 Ok: queued as 4ABC123\r\n",
        "221 2.0.0 Bye\r\n",
    ]
    .map(|s| s.as_bytes().to_vec())
    .to_vec()
}

/// Replies: the happy path with some replies replaced, removed or added,
/// or replies from scratch.
fn script() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop_oneof![
        2 => prop::collection::vec(
            (any::<prop::sample::Index>(), 0..3u8, reply()),
            0..4,
        )
        .prop_map(|edits| {
            let mut replies = happy_path();
            for (at, op, r) in edits {
                let i = at.index(replies.len() + 1);
                match op {
                    0 if i < replies.len() => replies[i] = r,
                    1 if i < replies.len() => {
                        replies.remove(i);
                    }
                    _ => replies.insert(i, r),
                }
            }
            replies
        }),
        1 => prop::collection::vec(reply(), 0..10),
    ]
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![Just(End::Eof), Just(End::Drop), Just(End::LockStep)]
}

fn chunk() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 1 => 1..32usize]
}

// ---------------------------------------------------------------------------
// Strategies: messages and addresses.

fn message_line() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"From: Someone <someone@example.net>",
        b"from:x",
        b"FROM : spaced",
        b"To: rcpt@example.org",
        b"Subject: hello",
        b"Date: Thu, 13 Feb 2025 10:00:00 +0000",
        b"Message-ID: <abc@example.net>",
        b"Message-ID:",
        b" <folded@example.net>",
        b"\tfolded",
        b"X-Bad Header: x",
        b":nope",
        b"",
        b".",
        b"..",
        b".leading dot",
        b"body text",
        b"h\xc3\xa9llo \xff",
    ];
    prop_oneof![
        8 => prop::sample::select(fixed).prop_map(<[u8]>::to_vec),
        1 => (997..1000usize).prop_map(|n| vec![b'a'; n]),
        2 => prop::collection::vec(any::<u8>(), 0..30),
    ]
}

fn raw_message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..300),
        3 => (
            prop::collection::vec(
                (
                    message_line(),
                    prop::sample::select(vec![&b"\r\n"[..], b"\n", b"\r", b"\n\r", b"\r\r\n"]),
                ),
                0..12,
            ),
            any::<bool>(),
        )
            .prop_map(|(lines, final_end)| {
                let mut raw = Vec::new();
                let n = lines.len();
                for (i, (line, end)) in lines.into_iter().enumerate() {
                    raw.extend_from_slice(&line);
                    if final_end || i + 1 < n {
                        raw.extend_from_slice(end);
                    }
                }
                raw
            }),
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "sender@example.net",
            "",
            " ",
            "\u{e9}l\u{e8}ve@exemple.fr",
            "a,b@example.org",
            "Some text: with a colon",
            "=?UTF-8?B?already?=",
        ])
        .prop_map(str::to_string),
        1 => (990..1000usize).prop_map(|n| "x".repeat(n)),
        1 => "\\PC{0,60}",
        1 => any::<String>(),
    ]
}

fn address_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9@\\[\\]\"\\\\.:<> é\r\n\t-]{0,40}",
        "(\"[a-z \\\\\"]{0,6}\"|[a-z.]{0,6})@([a-z.-]{0,12}|\\[[0-9.:a-fIPv]{0,20}\\])",
        (250..260usize).prop_map(|n| format!("{}@example.org", "a".repeat(n - 12))),
    ]
}

// ---------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(config())]

    /// Random bytes from the server, then EOF or a dropped connection:
    /// never a panic, an outcome, the limits kept.
    #[test]
    fn any_server_bytes_end_within_limits(
        bytes in prop::collection::vec(any::<u8>(), 0..2000),
        drop in any::<bool>(),
        chunk in chunk(),
    ) {
        let server = Server {
            pieces: vec![bytes],
            end: if drop { End::Drop } else { End::Eof },
            chunk,
        };
        both_modes(&server, false, false);
    }

    /// Scripts of replies (real, broken, hostile, at the limits), sent at
    /// once or in lock step with the commands, then EOF.
    #[test]
    fn scripted_servers_end_within_limits(
        pieces in script(),
        end in end(),
        chunk in chunk(),
        short_overall in any::<bool>(),
    ) {
        both_modes(&Server { pieces, end, chunk }, short_overall, false);
    }

    /// The same scripts from a server that then stays silent, on the
    /// paused clock: every attempt ends by the overall deadline, exactly.
    #[test]
    fn silent_servers_keep_the_deadline(
        pieces in script(),
        chunk in chunk(),
        short_overall in any::<bool>(),
    ) {
        both_modes(&Server { pieces, end: End::Silent, chunk }, short_overall, true);
    }

    /// Any bytes and header values as a message: never a panic; a prepared
    /// message is valid for DATA and preparing it again changes nothing.
    #[test]
    fn any_message_prepares_to_valid_output(
        raw in raw_message(),
        from in header_value(),
        to in prop::collection::vec(header_value(), 0..3),
        subject in prop::option::of(header_value()),
    ) {
        for text in std::iter::once(&from).chain(&to).chain(&subject) {
            check_address(text);
        }
        let Ok(msg) = Message::prepare(&raw, &from, &to, subject.as_deref()) else {
            return Ok(());
        };
        let values_have_nul = from.contains('\0')
            || subject.as_ref().is_some_and(|s| s.contains('\0'))
            || to.iter().any(|t| t.contains('\0'));
        prop_assert!(!values_have_nul, "a NUL in a header value was accepted");
        check_message(&msg, false);
        let again = Message::prepare(msg.as_bytes(), &from, &to, subject.as_deref())
            .expect("a prepared message prepares again");
        prop_assert_eq!(again.as_bytes(), msg.as_bytes());
        prop_assert_eq!(again.message_id(), msg.message_id());
    }

    /// Any text as an envelope address: never a panic; what is accepted can
    /// be sent inside `<...>` verbatim.
    #[test]
    fn any_text_as_an_envelope_address(text in address_text()) {
        check_address(&text);
    }
}

// ---------------------------------------------------------------------------
// Fixed cases: the harness is not vacuous, the limits are where documented,
// silent servers time out on the real clock.

fn happy(end: End) -> Server {
    Server {
        pieces: happy_path(),
        end,
        chunk: 0,
    }
}

#[test]
fn a_good_server_is_reached_and_accepts() {
    for end in [End::Eof, End::LockStep] {
        let [probe, deliver] = both_modes(&happy(end), false, false);
        assert_eq!(
            probe.outcome,
            AttemptOutcome::Reached { stage: Stage::Rcpt },
            "{end:?}"
        );
        match &deliver.outcome {
            AttemptOutcome::Accepted { queue_id, .. } => {
                assert_eq!(queue_id.as_deref(), Some("4ABC123"), "{end:?}")
            }
            other => panic!("{end:?}: {other:?}"),
        }
    }
    // In pieces of one octet.
    let server = Server {
        chunk: 1,
        ..happy(End::LockStep)
    };
    let [probe, _] = both_modes(&server, false, false);
    assert_eq!(
        probe.outcome,
        AttemptOutcome::Reached { stage: Stage::Rcpt }
    );
}

#[test]
fn a_line_of_max_reply_line_octets_is_read_and_one_more_is_refused() {
    let mut line = b"220 ".to_vec();
    line.resize(MAX_REPLY_LINE, b'x');
    let ok = [line.as_slice(), b"\r\n"].concat();
    let [probe, _] = both_modes(&Server::all_at_once(&ok, End::Eof), false, false);
    let greeting = probe.stages[1].reply.as_ref().expect("a greeting");
    assert_eq!(greeting.lines[0].len(), MAX_REPLY_LINE - 4);
    // The greeting was fine; then the server closed.
    assert!(matches!(
        probe.outcome,
        AttemptOutcome::Soft {
            stage: Stage::Ehlo,
            ..
        }
    ));

    line.push(b'x');
    let long = [line.as_slice(), b"\r\n"].concat();
    let [probe, _] = both_modes(&Server::all_at_once(&long, End::Eof), false, false);
    assert!(
        matches!(
            probe.outcome,
            AttemptOutcome::Soft {
                stage: Stage::Greeting,
                ..
            }
        ) && reason(&probe.outcome).contains("longer than"),
        "{:?}",
        probe.outcome
    );
    // Nothing of the line was kept.
    assert!(
        probe
            .transcript
            .iter()
            .all(|e| e.direction != Direction::Received)
    );
}

#[test]
fn max_reply_lines_are_read_and_one_more_is_refused() {
    for (n, ok) in [(MAX_REPLY_LINES, true), (MAX_REPLY_LINES + 1, false)] {
        let mut bytes = b"220-x\r\n".repeat(n - 1);
        bytes.extend_from_slice(b"220 x\r\n");
        let [probe, _] = both_modes(&Server::all_at_once(&bytes, End::Eof), false, false);
        let stage = probe.outcome.stage();
        if ok {
            assert_eq!(stage, Stage::Ehlo, "{:?}", probe.outcome);
            assert_eq!(
                probe.stages[1].reply.as_ref().unwrap().lines.len(),
                MAX_REPLY_LINES
            );
        } else {
            assert_eq!(stage, Stage::Greeting, "{:?}", probe.outcome);
            assert!(
                reason(&probe.outcome).contains("lines"),
                "{:?}",
                probe.outcome
            );
        }
    }
}

#[test]
fn a_reply_over_max_reply_bytes_is_refused() {
    let mut line = b"220-".to_vec();
    line.resize(MAX_REPLY_LINE, b'z');
    line.extend_from_slice(b"\r\n");
    let n = MAX_REPLY_BYTES / line.len() + 1;
    let mut bytes = line.repeat(n);
    bytes.extend_from_slice(b"220 x\r\n");
    let [probe, _] = both_modes(&Server::all_at_once(&bytes, End::Eof), false, false);
    assert_eq!(
        probe.outcome.stage(),
        Stage::Greeting,
        "{:?}",
        probe.outcome
    );
    assert!(
        reason(&probe.outcome).contains("octets"),
        "{:?}",
        probe.outcome
    );
}

/// Silent servers on the real clock: each attempt ends with a soft timeout
/// at the stage it waited in, after that stage's timeout and by the overall
/// deadline.
#[test]
fn silent_servers_time_out_on_the_real_clock() {
    let cases: [(&[u8], Stage, u64); 4] = [
        (b"", Stage::Greeting, 100),
        (b"220 partial greeting without an end", Stage::Greeting, 100),
        (b"220 mx\r\n250-mx\r\n", Stage::Ehlo, 100),
        (
            b"220 mx\r\n250 mx\r\n250 ok\r\n250 ok\r\n250 ok\r\n",
            Stage::Rcpt,
            0,
        ),
    ];
    for (bytes, stage, min_ms) in cases {
        let started = std::time::Instant::now();
        let [probe, deliver] = both_modes(&Server::all_at_once(bytes, End::Silent), false, false);
        let wall = started.elapsed();
        assert!(wall < 2 * (Duration::from_secs(1) + SLACK), "{wall:?}");
        if stage == Stage::Rcpt {
            // Everything answered: the probe is done; the delivery waits
            // for the reply to DATA.
            assert_eq!(probe.outcome, AttemptOutcome::Reached { stage });
            assert!(
                matches!(
                    deliver.outcome,
                    AttemptOutcome::Soft {
                        stage: Stage::Data,
                        ..
                    }
                ) && reason(&deliver.outcome).contains("timed out"),
                "{:?}",
                deliver.outcome
            );
            continue;
        }
        for a in [&probe, &deliver] {
            assert!(
                matches!(a.outcome, AttemptOutcome::Soft { stage: s, .. } if s == stage)
                    && reason(&a.outcome).contains("timed out"),
                "{:?}: {:?}",
                String::from_utf8_lossy(bytes),
                a.outcome
            );
            let waited = a.stages.last().unwrap().elapsed_ms;
            assert!(waited >= min_ms, "{waited} ms");
            // No QUIT after a timeout.
            assert!(a.transcript.iter().all(|e| e.line != "QUIT"));
        }
    }
}

/// The overall deadline cuts a stage short: with 250 ms overall and a RCPT
/// timeout of 400 ms, a server that answers up to the first RCPT and then
/// says nothing ends the attempt at 250 ms, the overall deadline the reason.
#[test]
fn the_overall_deadline_holds_on_the_real_clock() {
    let server = Server::all_at_once(b"220 mx\r\n250 mx\r\n250 ok\r\n250 ok\r\n", End::Silent);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut opts = options(true);
    opts.timeouts.rcpt = Duration::from_millis(400);
    let (a, elapsed) = rt.block_on(session(&server, &opts, Mode::Probe));
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed <= Duration::from_millis(250) + SLACK, "{elapsed:?}");
    check(&a, false);
    assert!(
        matches!(
            a.outcome,
            AttemptOutcome::Soft {
                stage: Stage::Rcpt,
                ..
            }
        ) && reason(&a.outcome).contains("overall deadline"),
        "{:?}",
        a.outcome
    );
    assert_eq!(a.recipients.len(), 1, "{:?}", a.recipients);
}

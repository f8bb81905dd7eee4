//! SMTP replies: arbitrary bytes as everything a server sends on one
//! connection, read by `smtp::attempt_on` over an in-memory
//! `tokio::io::duplex` pipe, once as a probe to RCPT (two recipients) and
//! once delivering a small message. TLS is off: STARTTLS over a fuzzed peer
//! is not the point, the reply reader and the session state machine are.
//!
//! The first byte steers the server, the rest is what it sends:
//! - bits 0-1, how the server ends: 0 = sends everything, then ends its
//!   side (EOF) and goes on reading; 1 = sends everything, then drops the
//!   connection (writes fail too); 2 = sends everything, then stays open and
//!   silent (timeouts); 3 = lock step: the rest is split at NUL bytes, the
//!   first piece is the greeting and each command line the client sends is
//!   answered with the next piece (message lines after a DATA answered
//!   `354` are read up to the final dot), then EOF;
//! - bit 2: a short overall deadline (250 ms instead of 1 s), shorter than
//!   the stage timeouts added up;
//! - bits 3-7: 0 = each write in one go, otherwise writes of that many bytes
//!   (1-31) with a yield between them, so that lines arrive in pieces.
//!
//! Time is paused (tokio `test-util`): the runtime jumps to the next timer
//! whenever both ends wait, so a silent server costs no wall time and a run
//! is deterministic. Timeouts are short anyway (50-200 ms per stage).
//!
//! Checked beyond "no panic": the attempt ends, with an outcome its mode
//! allows, within the overall deadline (in virtual time, exactly); every
//! reply in it (stages, recipients, the final one) has a valid code, at most
//! `MAX_REPLY_LINES` lines, each at most `MAX_REPLY_LINE` octets, at most
//! `MAX_REPLY_BYTES` in all; every received transcript line is at most
//! `MAX_REPLY_LINE` octets and each reply's run of received lines is bounded
//! by the same limits (plus the one line that broke them); the client only
//! ever sends the commands of its mode (never STARTTLS, never message
//! content in the transcript).

#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mxkit::route::Candidate;
use mxkit::smtp::{
    Attempt, AttemptOutcome, Direction, MAX_REPLY_BYTES, MAX_REPLY_LINE, MAX_REPLY_LINES, Message,
    Mode, Reply, SmtpOptions, Stage, Timeouts, TlsMode, WalkVerdict, attempt_on,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};

const HELO: &str = "client.example.net";
const FROM: &str = "sender@example.net";
const RCPT: [&str; 2] = ["rcpt@example.org", "other@example.org"];

fn timeouts(short_overall: bool) -> Timeouts {
    let ms = Duration::from_millis;
    Timeouts {
        connect: ms(50),
        greeting: ms(100),
        ehlo: ms(100),
        starttls: ms(100),
        mail: ms(100),
        rcpt: ms(100),
        data_init: ms(100),
        data_block: ms(100),
        data_done: ms(200),
        quit: ms(50),
        overall: ms(if short_overall { 250 } else { 1000 }),
    }
}

fn options(short_overall: bool) -> SmtpOptions {
    let mut opts = SmtpOptions::new(HELO, "example.org");
    opts.tls = TlsMode::Off;
    opts.timeouts = timeouts(short_overall);
    opts.stop_after = Stage::Rcpt;
    opts.mail_from = FROM.to_string();
    opts.rcpt_to = RCPT.iter().map(|r| r.to_string()).collect();
    opts
}

fn candidate() -> Candidate {
    Candidate {
        preference: 10,
        exchanger: "mx.example.org".into(),
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 25)),
        canonical: None,
    }
}

/// Headers, a line that needs dot-stuffing, 8-bit text (BODY=8BITMIME when
/// offered) and a SIZE a fuzzed `SIZE` keyword can refuse.
fn message() -> Message {
    let raw = "Subject: fuzz\r\n\r\nHello.\r\n.a line with a leading dot\r\n.\r\nh\u{e9}llo\r\n";
    let to: Vec<String> = RCPT.iter().map(|r| r.to_string()).collect();
    Message::prepare(raw.as_bytes(), FROM, &to, None).expect("a valid message")
}

#[derive(Clone, Copy)]
enum End {
    Eof,
    Drop,
    Silent,
    LockStep,
}

/// Write `bytes` in pieces of `chunk` (0: at once), yielding between them.
async fn send(w: &mut (impl AsyncWriteExt + Unpin), bytes: &[u8], chunk: usize) -> bool {
    if chunk == 0 {
        return w.write_all(bytes).await.is_ok();
    }
    for piece in bytes.chunks(chunk) {
        if w.write_all(piece).await.is_err() {
            return false;
        }
        tokio::task::yield_now().await;
    }
    true
}

/// Read and discard until the client is gone.
async fn drain(mut r: impl AsyncReadExt + Unpin) {
    let mut sink = [0u8; 4096];
    while matches!(r.read(&mut sink).await, Ok(n) if n > 0) {}
}

async fn server(stream: DuplexStream, data: &[u8], end: End, chunk: usize) {
    let (r, mut w) = tokio::io::split(stream);
    match end {
        End::Eof => {
            let write = async {
                send(&mut w, data, chunk).await;
                let _ = w.shutdown().await;
            };
            tokio::join!(write, drain(r));
        }
        End::Drop => {
            send(&mut w, data, chunk).await;
            drop((r, w));
        }
        End::Silent => {
            let write = async {
                send(&mut w, data, chunk).await;
                // Keep the write half open until the client is gone.
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
            for piece in data.split(|&b| b == 0) {
                if !send(&mut w, piece, chunk).await {
                    return;
                }
                let in_data = command.eq_ignore_ascii_case(b"DATA") && piece.starts_with(b"354");
                loop {
                    line.clear();
                    if !matches!(r.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
                        break;
                    }
                    // The message, up to the final dot, is one command.
                    if !in_data || line.trim_ascii_end() == b"." {
                        break;
                    }
                }
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

fn check_reply(reply: &Reply, context: &str) {
    assert!((100..600).contains(&reply.code), "{context}: {reply:?}");
    assert!(
        !reply.lines.is_empty() && reply.lines.len() <= MAX_REPLY_LINES,
        "{context}: {} lines",
        reply.lines.len()
    );
    let mut total = 0;
    for line in &reply.lines {
        // The text after the code: no longer than the line it came from
        // (lossy UTF-8 turns each bad sequence into one char).
        let len = line.chars().count();
        assert!(len <= MAX_REPLY_LINE, "{context}: a line of {len} chars");
        total += len;
    }
    assert!(total <= MAX_REPLY_BYTES, "{context}: {total} octets");
}

fn check(attempt: &Attempt, deliver: bool, elapsed: Duration, overall: Duration) {
    let outcome = &attempt.outcome;
    assert!(
        elapsed <= overall,
        "the attempt took {elapsed:?}, past the overall deadline of {overall:?}: {outcome:?}"
    );
    match outcome {
        AttemptOutcome::Reached { stage } => {
            assert!(!deliver, "{outcome:?}");
            assert_eq!(*stage, Stage::Rcpt, "{outcome:?}");
            assert!(
                attempt
                    .recipients
                    .iter()
                    .any(|r| r.verdict == WalkVerdict::Reached),
                "reached RCPT without an accepted recipient: {attempt:#?}"
            );
        }
        AttemptOutcome::Accepted { reply, .. } => {
            assert!(deliver, "{outcome:?}");
            assert!(reply.is_positive(), "{outcome:?}");
            check_reply(reply, "final reply");
            assert!(
                attempt
                    .recipients
                    .iter()
                    .any(|r| r.verdict == WalkVerdict::Accepted),
                "accepted without an accepted recipient: {attempt:#?}"
            );
        }
        AttemptOutcome::Soft { stage, .. } | AttemptOutcome::Hard { stage, .. } => {
            assert!(*stage != Stage::Connect, "{outcome:?}");
            assert!(deliver || *stage <= Stage::Rcpt, "{outcome:?}");
        }
    }
    assert!(attempt.recipients.len() <= RCPT.len(), "{attempt:#?}");
    for s in &attempt.stages {
        if let Some(reply) = &s.reply {
            check_reply(reply, s.stage.as_str());
        }
    }
    for r in &attempt.recipients {
        if let Some(reply) = &r.reply {
            check_reply(reply, "recipient");
        }
    }

    // The transcript: received lines are bounded one by one and per reply
    // (a run of received lines between other events is one reply, with at
    // most one more line: the one that broke a limit).
    let mut run_lines = 0;
    let mut run_bytes = 0;
    for e in &attempt.transcript {
        assert!(!e.tls, "TLS is off: {e:?}");
        match e.direction {
            Direction::Received => {
                let len = e.line.chars().count();
                assert!(len <= MAX_REPLY_LINE, "a received line of {len} chars");
                run_lines += 1;
                run_bytes += len + 2;
                assert!(
                    run_lines <= MAX_REPLY_LINES + 1,
                    "{run_lines} lines in a reply"
                );
                assert!(
                    run_bytes <= MAX_REPLY_BYTES + MAX_REPLY_LINE + 2,
                    "{run_bytes} octets in a reply"
                );
            }
            Direction::Sent => {
                run_lines = 0;
                run_bytes = 0;
                let line = e.line.as_str();
                let known = line == format!("EHLO {HELO}")
                    || line == format!("HELO {HELO}")
                    || line.starts_with(&format!("MAIL FROM:<{FROM}>"))
                    || RCPT.iter().any(|r| line == format!("RCPT TO:<{r}>"))
                    || line == "QUIT"
                    || (deliver && (line == "DATA" || line == "."));
                assert!(known, "sent {line:?}");
            }
            Direction::Info | Direction::Error => {
                run_lines = 0;
                run_bytes = 0;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let end = match control & 3 {
        0 => End::Eof,
        1 => End::Drop,
        2 => End::Silent,
        _ => End::LockStep,
    };
    let short_overall = control & 4 != 0;
    let chunk = usize::from(control >> 3);
    let opts = options(short_overall);
    let overall = opts.timeouts.overall;
    let candidate = candidate();
    let message = message();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    for deliver in [false, true] {
        let mode = if deliver {
            Mode::Deliver(&message)
        } else {
            Mode::Probe
        };
        rt.block_on(async {
            let (client, peer) = tokio::io::duplex(64 * 1024);
            let start = tokio::time::Instant::now();
            let session = async {
                let attempt = attempt_on(client, &candidate, &opts, mode).await;
                (attempt, start.elapsed())
            };
            // A guard well past the overall deadline: the attempt must end.
            let guarded = tokio::time::timeout(overall * 4, async {
                tokio::join!(session, server(peer, data, end, chunk)).0
            });
            let (attempt, elapsed) = guarded
                .await
                .unwrap_or_else(|_| panic!("the attempt did not end (deliver: {deliver})"));
            check(&attempt, deliver, elapsed, overall);
        });
    }
});

//! What the SMTP robustness tests (`tests/robustness_smtp.rs`) and the
//! fuzz targets (`fuzz/fuzz_targets/smtp_reply.rs`, `message.rs`) share:
//! the session under test and the checks of what comes out, in one place so
//! that the two cannot drift apart. Included by path from both.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use mxkit::route::Candidate;
use mxkit::smtp::{
    Attempt, AttemptOutcome, Direction, MAX_REPLY_BYTES, MAX_REPLY_LINE, MAX_REPLY_LINES, Message,
    Reply, SmtpOptions, Stage, Timeouts, TlsMode, WalkVerdict, validate_address,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

pub const HELO: &str = "client.example.net";
pub const FROM: &str = "sender@example.net";
pub const RCPT: [&str; 2] = ["rcpt@example.org", "other@example.org"];

pub fn timeouts(short_overall: bool) -> Timeouts {
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

pub fn options(short_overall: bool) -> SmtpOptions {
    let mut opts = SmtpOptions::new(HELO, "example.org");
    opts.tls = TlsMode::Off;
    opts.timeouts = timeouts(short_overall);
    opts.stop_after = Stage::Rcpt;
    opts.mail_from = FROM.to_string();
    opts.rcpt_to = RCPT.iter().map(|r| r.to_string()).collect();
    opts
}

pub fn candidate() -> Candidate {
    Candidate {
        preference: 10,
        exchanger: "mx.example.org".into(),
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 25)),
        canonical: None,
    }
}

/// Headers, a line that needs dot-stuffing, 8-bit text (BODY=8BITMIME when
/// offered) and a SIZE a fuzzed `SIZE` keyword can refuse.
pub fn message() -> Message {
    let raw = "Subject: fuzz\r\n\r\nHello.\r\n.a line with a leading dot\r\n.\r\nh\u{e9}llo\r\n";
    let to: Vec<String> = RCPT.iter().map(|r| r.to_string()).collect();
    Message::prepare(raw.as_bytes(), FROM, &to, None).expect("a valid message")
}

/// What a lock-step server reads for its next reply: one command line, or
/// after DATA was answered `354` the whole message up to the final dot (one
/// command). `line` ends empty when the client is gone.
pub async fn read_command<R: AsyncBufRead + Unpin>(r: &mut R, line: &mut Vec<u8>, in_data: bool) {
    loop {
        line.clear();
        if !matches!(r.read_until(b'\n', line).await, Ok(n) if n > 0) {
            break;
        }
        if !in_data || line.trim_ascii_end() == b"." {
            break;
        }
    }
}

/// Write `bytes` in pieces of `chunk` octets (0: at once), yielding
/// between them. Large inputs go at once: a 64 KiB reply in pieces of one
/// octet takes longer than a stage timeout in a debug build.
pub async fn send(w: &mut (impl AsyncWriteExt + Unpin), bytes: &[u8], chunk: usize) -> bool {
    if chunk == 0 || bytes.len() > 8 * 1024 {
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

pub async fn drain(mut r: impl AsyncReadExt + Unpin) {
    let mut sink = [0u8; 4096];
    while matches!(r.read(&mut sink).await, Ok(n) if n > 0) {}
}

pub fn check_reply(reply: &Reply, context: &str) {
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

/// The outcome is one the mode allows, every reply is within the limits,
/// the transcript's received lines are bounded one by one and per reply,
/// and only the commands of the mode were sent.
pub fn check(attempt: &Attempt, deliver: bool) {
    let outcome = &attempt.outcome;
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

/// RFC 5322 section 2.1.1.
pub const MAX_LINE: usize = 998;

pub fn check_address(addr: &str) {
    if validate_address(addr).is_err() {
        return;
    }
    assert!(
        !addr.chars().any(char::is_control),
        "{addr:?} has a control character"
    );
    assert!(!addr.contains(['<', '>']), "{addr:?} has an angle bracket");
    assert!(addr.len() <= 254, "{addr:?} is {} octets", addr.len());
    assert!(addr.contains('@'), "{addr:?} has no local part");
    // The envelope check of the options agrees.
    let mut opts = SmtpOptions::new(HELO, "example.org");
    opts.mail_from = addr.to_string();
    opts.rcpt_to = vec![addr.to_string()];
    assert!(opts.validate().is_ok(), "{addr:?}: {:?}", opts.validate());
}

/// The properties of a prepared message.
pub fn check_message(msg: &Message, values_have_nul: bool) {
    let bytes = msg.as_bytes();
    assert_eq!(msg.len(), bytes.len());
    assert!(!msg.is_empty());
    assert_eq!(msg.is_8bit(), !bytes.is_ascii());
    assert!(bytes.ends_with(b"\r\n"), "no final CRLF: {bytes:?}");
    assert!(values_have_nul || !bytes.contains(&0), "a NUL: {bytes:?}");
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => {
                assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}");
                lines.push(&bytes[start..i - 1]);
                start = i + 1;
            }
            _ => {}
        }
    }
    for (n, line) in lines.iter().enumerate() {
        assert!(
            line.len() <= MAX_LINE,
            "line {} is {} octets",
            n + 1,
            line.len()
        );
    }
    let has_from = lines
        .iter()
        .take_while(|l| !l.is_empty())
        .any(|l| l.len() >= 5 && l[..5].eq_ignore_ascii_case(b"from:"));
    assert!(has_from, "no From: field in the header section");
    assert!(msg.message_id().is_some(), "no Message-ID");
}

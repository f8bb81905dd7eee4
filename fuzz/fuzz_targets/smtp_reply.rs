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

use libfuzzer_sys::fuzz_target;
use mxkit::smtp::{Mode, attempt_on};
use tokio::io::{AsyncWriteExt, BufReader, DuplexStream};

#[path = "../../crates/mxkit/tests/support/smtp_checks.rs"]
mod smtp_checks;
use smtp_checks::*;

#[derive(Clone, Copy)]
enum End {
    Eof,
    Drop,
    Silent,
    LockStep,
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
            assert!(
                elapsed <= overall,
                "the attempt took {elapsed:?}, past the overall deadline of {overall:?}: {:?}",
                attempt.outcome
            );
            check(&attempt, deliver);
        });
    }
});

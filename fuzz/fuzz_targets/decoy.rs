//! The decoy's SMTP dialogue: arbitrary bytes from a client, through
//! `listener::session` over a duplex pipe on a paused-time runtime.
//!
//! Checked beyond "no panic": the session ends by itself once the client has
//! said everything (no hang), every reply line is 2xx or 4xx (the decoy
//! never answers 5xx and never asks for a message with 354), and exactly
//! one session is recorded, without a local part of an address, and its end
//! is recorded within the bound it was opened with.

#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mxkit_trap::listener::{Decoy, Limits, MemorySink, session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let decoy = Decoy {
        hostname: "mx99.fuzz.test".into(),
        limits: Limits {
            greet_wait: Duration::from_millis(100),
            ..Limits::default()
        },
    };
    let sink = MemorySink::default();
    let seen = rt.block_on(async {
        let (client, server) = tokio::io::duplex(1 << 16);
        let peer: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let (mut r, mut w) = tokio::io::split(client);
        let input = data.to_vec();
        let writer = async move {
            let _ = w.write_all(&input).await;
            let _ = w.shutdown().await;
        };
        let reader = async move {
            let mut all = Vec::new();
            let _ = r.read_to_end(&mut all).await;
            all
        };
        let (_, _, seen) = tokio::join!(session(server, peer, None, &decoy, &sink), writer, reader);
        seen
    });
    let text = String::from_utf8_lossy(&seen);
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        assert!(line.starts_with('2') || line.starts_with('4'), "{line:?}");
        assert!(!line.starts_with("354"));
    }
    let recorded = sink.0.lock().unwrap();
    assert_eq!(recorded.len(), 1);
    if let Some(d) = &recorded[0].obs.mail_domain {
        assert!(!d.contains('@'), "{d}");
    }
    // The session's end is recorded, within the bound it was recorded with.
    let ended = recorded[0].ended.expect("the session's end is recorded");
    assert!(ended >= recorded[0].obs.at && ended <= recorded[0].until);
});

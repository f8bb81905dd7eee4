//! Load figure for the decoy: N concurrent idle connections to a running
//! `mxkit trap run`, its memory per connection, and the time until every
//! connection was greeted (each one recorded in the store first).
//!
//!   ulimit -n 65536
//!   cargo build --release -p mxkit-cli -p mxkit-trap --example decoy_load
//!   target/release/examples/decoy_load target/release/mxkit 10000
//!
//! Loopback only: the decoy listens on 127.0.90.3:2525 and the clients
//! connect from 127.0.90.10-.29 (a few thousand each, well inside the
//! ephemeral port range). `bench/trap-load` runs it and prints the Markdown
//! rows of BENCHMARKS.md.

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

async fn connect_from(source: IpAddr, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(to).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mxkit = args
        .next()
        .expect("usage: decoy_load PATH-TO-MXKIT [CONNECTIONS]");
    let n: usize = args
        .next()
        .map(|s| s.parse().expect("a number"))
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("trap.toml");
    std::fs::write(
        &cfg,
        "hostname = \"mx99.load.test\"\n[limits]\ngreet_wait = 0\ncommand_timeout = 600\nsession_timeout = 900\nmax_connections = 100000\n",
    )
    .unwrap();
    let decoy: SocketAddr = "127.0.90.3:2525".parse().unwrap();
    let store = format!("sqlite:{}", dir.path().join("trap.db").display());
    let mut child = Command::new(&mxkit)
        .args([
            "trap",
            "run",
            "--listen",
            &decoy.to_string(),
            "--store",
            &store,
        ])
        .args(["--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start mxkit");
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(decoy).await.is_err() {
        assert!(Instant::now() < deadline, "the decoy never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One connection has been made (and recorded) already: let it settle.
    let base = rss_kib(child.id());
    let started = Instant::now();
    let mut held = Vec::with_capacity(n);
    let mut pending = tokio::task::JoinSet::new();
    for i in 0..n {
        let source: IpAddr = format!("127.0.90.{}", 10 + i % 20).parse().unwrap();
        pending.spawn(async move {
            let stream = connect_from(source, decoy).await?;
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).await? == 0 {
                    return Err(std::io::Error::other("closed before the greeting"));
                }
                if line.starts_with("220 ") {
                    return Ok(reader);
                }
            }
        });
        // Keep at most 512 handshakes in flight (the listen backlog).
        while pending.len() >= 512 {
            held.push(
                pending
                    .join_next()
                    .await
                    .unwrap()
                    .unwrap()
                    .expect("connection"),
            );
        }
    }
    while let Some(r) = pending.join_next().await {
        held.push(r.unwrap().expect("connection"));
    }
    let greeted = started.elapsed();
    // Idle for a moment with every connection open, then measure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loaded = rss_kib(child.id());
    let per_conn = (loaded.saturating_sub(base)) as f64 * 1024.0 / n as f64;
    println!(
        "| decoy, {n} concurrent idle connections | {:.0} connections/s greeted and recorded | RSS {} MiB idle before, {} MiB with {n} open: {:.1} KiB per connection |",
        n as f64 / greeted.as_secs_f64(),
        base / 1024,
        loaded / 1024,
        per_conn / 1024.0
    );
    assert_eq!(held.len(), n);
    drop(held);
    let _ = child.kill();
    let _ = child.wait();
}

//! TCP fallback: a question whose UDP reply was truncated is asked again
//! of the same server over TCP (RFC 7766 section 5), on a bounded number of
//! connections, some kept open for the next truncated answer.

use std::io;
use std::net::SocketAddr;
use std::sync::PoisonError;

use hickory_proto::rr::{Name, RecordType};
use rand::RngExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::super::decode::{self, Reply};
use super::Inner;
use super::meter::Meter;
use super::reply::{ReplyError, accept};

/// TCP connections an engine keeps open at once (truncated answers).
pub const TCP_CONNECTIONS: usize = 32;
/// TCP connections kept open after a clean exchange, for the next
/// truncated answer (part of [`TCP_CONNECTIONS`]: at most
/// `TCP_CONNECTIONS - TCP_IDLE` exchanges run at once).
pub const TCP_IDLE: usize = 8;

/// Why a TCP try got no acceptable reply.
#[derive(Debug, thiserror::Error)]
pub(super) enum TcpError {
    #[error("connect: {0}")]
    Connect(io::Error),
    #[error("write: {0}")]
    Write(io::Error),
    #[error("read: {0}")]
    Read(io::Error),
    /// No acceptable reply within the timeout; the last reply skipped.
    #[error("timeout{}", last_ignored_note(.0))]
    Timeout(Option<Ignored>),
}

/// A reply read over TCP and skipped.
#[derive(Debug, thiserror::Error)]
pub(super) enum Ignored {
    /// Not the query's ID.
    #[error("wrong ID")]
    WrongId,
    /// The query's ID, but not an acceptable reply.
    #[error("{0}")]
    Reply(ReplyError),
}

fn last_ignored_note(last: &Option<Ignored>) -> String {
    match last {
        Some(why) => format!(" (last ignored: {why})"),
        None => String::new(),
    }
}

/// One question asked over TCP: its wire form (without the length prefix),
/// what it asks, and of whom.
#[derive(Clone, Copy)]
pub(super) struct Ask<'a> {
    pub wire: &'a [u8],
    pub name: &'a Name,
    pub rtype: RecordType,
    pub server: SocketAddr,
}

impl Inner {
    /// The full answer of `server` after its UDP reply was truncated, or
    /// `None` when TCP failed or truncated it too (RFC 1123 section
    /// 6.1.3.2: never use a truncated answer; RFC 7766 section 5: ask the
    /// same server over TCP).
    pub(super) async fn after_truncation(&self, ask: Ask<'_>) -> Option<Reply> {
        let server = ask.server;
        Meter::add(&self.meter.tcp);
        match self.tcp_tries(ask).await {
            Ok(full) if !full.metadata.truncation => Some(full),
            Ok(_) => {
                tracing::debug!("{server}: TC bit set over TCP too");
                None
            }
            Err(why) => {
                tracing::debug!("{server}: truncated over UDP, TCP failed: {why}");
                None
            }
        }
    }

    /// Ask `server` over TCP after a truncated UDP reply: up to
    /// [`EngineConfig::attempts`](super::EngineConfig::attempts)
    /// connections, one after the other, while the exchange fails (refused,
    /// reset, timed out: under load a server's listen queue drops connection
    /// attempts, and the kernel would retry only after a second); an answer,
    /// even one with the TC bit again, ends it. At most [`TCP_CONNECTIONS`] connections are open at once (RFC
    /// 7766 section 6.2.2: a client should limit its concurrent
    /// connections to a server); waiting for one does not count against the
    /// timeout. Up to [`TCP_IDLE`] connections stay open after a clean
    /// exchange and are used again (RFC 7766 section 6.2.1), so that the
    /// truncated answers of a bulk run do not each cost a handshake.
    async fn tcp_tries(&self, ask: Ask<'_>) -> Result<Reply, TcpError> {
        let server = ask.server;
        let mut left = self.cfg.attempts.max(1);
        loop {
            let _slot = self.tcp_slots.acquire().await;
            if let Some(pacer) = &self.pacer {
                pacer.wait().await;
            }
            match self.tcp_try(ask).await {
                Ok(msg) => return Ok(msg),
                Err(why) => {
                    tracing::debug!("{server}: TCP try failed: {why}");
                    left -= 1;
                    if left == 0 {
                        return Err(why);
                    }
                }
            }
        }
    }

    /// Ask `server` over TCP (2-byte length prefix, RFC 1035 section 4.2.2)
    /// and wait for an acceptable reply, within one timeout.
    async fn tcp_try(&self, ask: Ask<'_>) -> Result<Reply, TcpError> {
        let Ask {
            wire,
            name,
            rtype,
            server,
        } = ask;
        let id: u16 = match self.channel(server) {
            Some(channel) => channel.lock().rng.random(),
            None => rand::random(),
        };
        let mut out = Vec::with_capacity(wire.len() + 2);
        out.extend_from_slice(&u16::try_from(wire.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(wire);
        out[2..4].copy_from_slice(&id.to_be_bytes());
        let mut last_ignored = None;
        // A connection left open by an earlier exchange first (RFC 7766
        // section 6.2.1: reuse connections); one the server has closed
        // meanwhile fails at once, and a new one is opened in its place.
        if let Some(mut stream) = self.idle_tcp(server) {
            let exchange = tcp_exchange(&mut stream, &out, id, name, rtype, &mut last_ignored);
            match tokio::time::timeout(self.cfg.timeout, exchange).await {
                Ok(Ok(msg)) => {
                    self.keep_tcp(server, stream);
                    return Ok(msg);
                }
                Ok(Err(why)) => {
                    tracing::debug!(
                        "{server}: kept TCP connection failed ({why}), opening another"
                    );
                }
                Err(_) => return Err(TcpError::Timeout(last_ignored)),
            }
        }
        let exchange = async {
            let mut stream = TcpStream::connect(server)
                .await
                .map_err(TcpError::Connect)?;
            let msg = tcp_exchange(&mut stream, &out, id, name, rtype, &mut last_ignored).await?;
            Ok((msg, stream))
        };
        match tokio::time::timeout(self.cfg.timeout, exchange).await {
            Ok(Ok((msg, stream))) => {
                self.keep_tcp(server, stream);
                Ok(msg)
            }
            Ok(Err(why)) => Err(why),
            Err(_) => Err(TcpError::Timeout(last_ignored)),
        }
    }

    /// A kept TCP connection to `server`, if there is one.
    fn idle_tcp(&self, server: SocketAddr) -> Option<TcpStream> {
        let mut idle = self.tcp_idle.lock().unwrap_or_else(PoisonError::into_inner);
        let i = idle.iter().position(|(to, _)| *to == server)?;
        Some(idle.swap_remove(i).1)
    }

    /// Keep a connection after a clean exchange, while fewer than
    /// [`TCP_IDLE`] are kept (else it is closed).
    fn keep_tcp(&self, server: SocketAddr, stream: TcpStream) {
        let mut idle = self.tcp_idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < TCP_IDLE {
            idle.push((server, stream));
        }
    }
}

/// Send one framed query (2-byte length prefix, RFC 1035 section 4.2.2) on
/// `stream` and read replies until the one with its ID that answers the
/// question; other replies are skipped (noted in `last_ignored`).
async fn tcp_exchange(
    stream: &mut TcpStream,
    out: &[u8],
    id: u16,
    name: &Name,
    rtype: RecordType,
    last_ignored: &mut Option<Ignored>,
) -> Result<Reply, TcpError> {
    stream.write_all(out).await.map_err(TcpError::Write)?;
    loop {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.map_err(TcpError::Read)?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut body).await.map_err(TcpError::Read)?;
        if body.get(..2) != Some(&id.to_be_bytes()[..]) {
            *last_ignored = Some(Ignored::WrongId);
            continue;
        }
        match decode::read(&body)
            .map_err(ReplyError::Undecodable)
            .and_then(|msg| accept(msg, name, rtype))
        {
            Ok(msg) => return Ok(msg),
            Err(why) => {
                tracing::debug!("ignored TCP reply: {why}");
                *last_ignored = Some(Ignored::Reply(why));
            }
        }
    }
}

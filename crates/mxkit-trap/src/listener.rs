//! The decoy listener: an SMTP server that never accepts mail.
//!
//! Each connection is recorded in the store before the client gets its first
//! reply, and every later stage (HELO, MAIL, RCPT, DATA) is recorded before
//! the reply to that command goes out, so a killed process never loses an
//! observation that got a reply. A session is recorded as *open*, with the
//! latest time it can end (its start plus [`Limits::session_timeout`] and
//! the last reply's grace), and its end is recorded when it ends: the
//! detector decides a session only once it is over, on everything it did,
//! so a client that talks slowly is judged as one that talks fast
//! (docs/trap.md, "Guards against evasion and floods").
//!
//! The dialogue (docs/rules/trap.md, "The decoy's dialogue"):
//! - a postscreen-style teaser `220-` line, then [`Limits::greet_wait`] of
//!   silence before the final `220 `: a client that talks first is a
//!   *pregreet* client, like postscreen's PREGREET test;
//! - EHLO/HELO and MAIL FROM get `250`; PIPELINING is not advertised, so a
//!   client that sends its next command before the reply is flagged;
//! - every RCPT TO gets `451 4.7.1`, DATA gets `421` and the connection
//!   closes: the decoy never answers 5xx and never reads a message;
//! - per-connection limits on the session's total time, the wait for each
//!   command, the line length and the number of commands; a client past a
//!   limit gets `421` and is disconnected (and flagged as abusive when it
//!   sent garbage).
//!
//! Connections above [`Limits::max_connections`] are answered `421` and
//! closed at once without being recorded, so a flood cannot exhaust memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use crate::model::{Flags, Micros, Observation, Role, Stage, now};
use crate::store::{Store, StoreError};

/// Where the listener records what it sees. [`Store`] is the real one;
/// tests may record into memory.
pub trait Sink: Send + Sync + 'static {
    /// Records a new session that may go on until `until` at the latest;
    /// durable when the future completes.
    fn record(&self, obs: Observation, until: Micros) -> BoxFuture<'_, Result<i64, StoreError>>;
    /// Records that session `id` got further; durable when it completes.
    fn update(&self, id: i64, obs: Observation) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Records that session `id` ended at `at`.
    fn finish(&self, id: i64, at: Micros) -> BoxFuture<'_, Result<(), StoreError>>;
}

impl Sink for Store {
    fn record(&self, obs: Observation, until: Micros) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(async move { Store::record_open(self, &obs, until).await })
    }

    fn update(&self, id: i64, obs: Observation) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            Store::update(
                self,
                id,
                obs.stage,
                obs.helo.as_deref(),
                obs.mail_domain.as_deref(),
                obs.flags,
            )
            .await
        })
    }

    fn finish(&self, id: i64, at: Micros) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { Store::end_session(self, id, at).await })
    }
}

/// One session as [`MemorySink`] keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemorySession {
    pub obs: Observation,
    /// The latest end it was recorded with.
    pub until: Micros,
    /// When it ended, once it has.
    pub ended: Option<Micros>,
}

/// A [`Sink`] in memory: the sessions as the decoy saw them, in order
/// (ids are positions from 1). For tests, fuzzing, and embedding the decoy
/// without a store.
#[derive(Default)]
pub struct MemorySink(pub std::sync::Mutex<Vec<MemorySession>>);

impl MemorySink {
    fn with<T>(&self, id: i64, f: impl FnOnce(&mut MemorySession) -> T) -> Result<T, StoreError> {
        let mut sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| sessions.get_mut(i))
            .map(f)
            .ok_or(StoreError::NoSuchObservation(id))
    }

    /// The sessions' observations, in order.
    pub fn observations(&self) -> Vec<Observation> {
        let sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sessions.iter().map(|s| s.obs.clone()).collect()
    }
}

impl Sink for MemorySink {
    fn record(&self, obs: Observation, until: Micros) -> BoxFuture<'_, Result<i64, StoreError>> {
        let mut sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sessions.push(MemorySession {
            obs,
            until,
            ended: None,
        });
        let id = sessions.len() as i64;
        Box::pin(async move { Ok(id) })
    }

    fn update(&self, id: i64, obs: Observation) -> BoxFuture<'_, Result<(), StoreError>> {
        let result = self.with(id, |s| s.obs = obs);
        Box::pin(async move { result })
    }

    fn finish(&self, id: i64, at: Micros) -> BoxFuture<'_, Result<(), StoreError>> {
        let result = self.with(id, |s| s.ended = Some(at));
        Box::pin(async move { result })
    }
}

/// Per-connection limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Silence asked of the client between the `220-` teaser and the final
    /// greeting line (postscreen's `postscreen_greet_wait`, 6 s there).
    pub greet_wait: Duration,
    /// The longest wait for one command.
    pub command_timeout: Duration,
    /// The longest whole session.
    pub session_timeout: Duration,
    /// The longest command line, CRLF included (RFC 5321 section 4.5.3.1.4:
    /// 512).
    pub max_line: usize,
    /// Commands per session before `421`.
    pub max_commands: u32,
    /// Unrecognised commands or bad syntax before `421`.
    pub max_errors: u32,
    /// Connections served at once; more get `421` at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            greet_wait: Duration::from_secs(2),
            command_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(120),
            max_line: 512,
            max_commands: 20,
            max_errors: 3,
            max_connections: 20_000,
        }
    }
}

/// The decoy's settings.
#[derive(Clone, Debug)]
pub struct Decoy {
    /// The name in the greeting and EHLO reply.
    pub hostname: String,
    pub limits: Limits,
}

/// Serves the decoy on every listener until the future is dropped.
pub async fn serve(
    listeners: Vec<TcpListener>,
    decoy: Arc<Decoy>,
    sink: Arc<dyn Sink>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(decoy.limits.max_connections));
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        let decoy = decoy.clone();
        let sink = sink.clone();
        let slots = slots.clone();
        tasks.spawn(async move { accept_loop(listener, decoy, sink, slots).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(std::io::Error::other)??;
    }
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    decoy: Arc<Decoy>,
    sink: Arc<dyn Sink>,
    slots: Arc<Semaphore>,
) -> std::io::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors or a connection reset before accept:
            // keep serving the others.
            Err(e) if transient_accept_error(&e) => {
                tracing::warn!("decoy: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = stream
                    .write_all(b"421 4.7.0 Too many connections, try again later\r\n")
                    .await;
            });
            continue;
        };
        let decoy = decoy.clone();
        let sink = sink.clone();
        tokio::spawn(async move {
            let local = stream.local_addr().ok();
            if let Err(e) = session(stream, peer, local, &decoy, sink.as_ref()).await {
                tracing::debug!("decoy: {peer}: {e}");
            }
            drop(permit);
        });
    }
}

fn transient_accept_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Why a session ended early.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// One decoy session over any byte stream (tests drive it over a duplex
/// pipe).
pub async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    decoy: &Decoy,
    sink: &dyn Sink,
) -> Result<(), std::io::Error> {
    let started = Instant::now();
    let deadline = started + decoy.limits.session_timeout;
    let at = now();
    let mut obs = Observation {
        at,
        role: Role::Decoy,
        stream: "decoy".to_string(),
        // A dual-stack socket sees an IPv4 client as ::ffff:a.b.c.d: one
        // client, one key.
        client: peer.ip().to_canonical(),
        local: local.map(|a| a.ip().to_canonical()),
        client_name: None,
        stage: Stage::Connect,
        helo: None,
        mail_domain: None,
        flags: Flags::default(),
    };
    let mut io = BufReader::with_capacity(decoy.limits.max_line.max(64), stream);
    // The latest this session can end: its deadline, plus the grace of the
    // last reply and of the store calls around it.
    let until = at.saturating_add(micros(decoy.limits.session_timeout + 3 * REPLY_GRACE));
    let id = match sink.record(obs.clone(), until).await {
        Ok(id) => id,
        Err(e) => {
            let _ = io
                .get_mut()
                .write_all(b"421 4.3.0 Service not available, try again later\r\n")
                .await;
            return Err(std::io::Error::other(format!("cannot record: {e}")));
        }
    };
    let result = match run(&mut io, &mut obs, id, decoy, sink, deadline).await {
        Ok(()) => Ok(()),
        Err(End::Io(e)) => Err(e),
        Err(End::Store(e)) => {
            let _ = io
                .get_mut()
                .write_all(b"421 4.3.0 Service not available, try again later\r\n")
                .await;
            Err(std::io::Error::other(format!("cannot record: {e}")))
        }
    };
    // Measured on the monotonic clock from the start; if this cannot be
    // recorded, the session counts as over at `until`.
    let ended = at.saturating_add(micros(started.elapsed())).min(until);
    if let Err(e) = sink.finish(id, ended).await {
        tracing::debug!("decoy: {peer}: cannot record the end: {e}");
    }
    result
}

fn micros(d: Duration) -> Micros {
    Micros::try_from(d.as_micros()).unwrap_or(Micros::MAX)
}

/// The dialogue: the greeting, then one command at a time until the client
/// leaves or a limit ends the session.
async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    obs: &mut Observation,
    id: i64,
    decoy: &Decoy,
    sink: &dyn Sink,
    deadline: Instant,
) -> Result<(), End> {
    let limits = &decoy.limits;
    match greet(io, decoy, deadline).await? {
        Greeted::Gone => return Ok(()),
        Greeted::Pregreet => {
            obs.flags.insert(Flags::PREGREET);
            sink.update(id, obs.clone()).await?;
        }
        Greeted::Quiet => {}
    }
    // The final greeting line goes out once what the wait showed is stored.
    reply(io, &format!("220 {} ESMTP", decoy.hostname), deadline).await?;
    let mut commands = 0u32;
    let mut errors = 0u32;
    let mut line = Vec::with_capacity(limits.max_line);
    loop {
        match read_command(io, &mut line, limits, deadline).await? {
            Read::Line => {}
            Read::Closed => return Ok(()),
            Read::Timeout => {
                reply(io, "421 4.4.2 Timeout, closing connection", deadline).await?;
                return Ok(());
            }
            Read::TooLong => {
                obs.flags.insert(Flags::ABUSE);
                sink.update(id, obs.clone()).await?;
                reply(io, "421 4.5.2 Line too long, closing connection", deadline).await?;
                return Ok(());
            }
        }
        commands += 1;
        // A client that sends its next command before our reply pipelines
        // without PIPELINING having been offered.
        let pipelined = !io.buffer().is_empty();
        let seen = |o: &Observation| (o.stage, o.flags, o.helo.clone(), o.mail_domain.clone());
        let before = seen(obs);
        let (answer, close) = answer(&line, pipelined, obs, &mut errors, &decoy.hostname);
        if errors > limits.max_errors {
            obs.flags.insert(Flags::ABUSE);
        }
        if seen(obs) != before {
            sink.update(id, obs.clone()).await?;
        }
        // A limit reached ends the session instead of the answer.
        let limit = if errors > limits.max_errors {
            Some("421 4.7.0 Too many errors, closing connection")
        } else if commands >= limits.max_commands && !close {
            Some("421 4.7.0 Too many commands, closing connection")
        } else {
            None
        };
        reply(io, limit.unwrap_or(&answer), deadline).await?;
        if close || limit.is_some() {
            return Ok(());
        }
    }
}

/// How the client took the greeting.
enum Greeted {
    /// It left before the final line.
    Gone,
    /// It talked before the final line (postscreen's PREGREET).
    Pregreet,
    /// It waited, as a client should.
    Quiet,
}

/// The `220-` teaser, then [`Limits::greet_wait`] of silence asked of the
/// client: anything it sends meanwhile is a pregreet.
async fn greet<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    decoy: &Decoy,
    deadline: Instant,
) -> Result<Greeted, End> {
    reply(io, &format!("220-{} ESMTP", decoy.hostname), deadline).await?;
    let greet_end = (Instant::now() + decoy.limits.greet_wait).min(deadline);
    match timeout_at(greet_end, io.fill_buf()).await {
        Ok(Ok([])) => Ok(Greeted::Gone),
        Ok(Ok(_)) => Ok(Greeted::Pregreet),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Ok(Greeted::Quiet),
    }
}

/// What reading one command line gave.
enum Read {
    /// A whole line, in the buffer.
    Line,
    /// The client closed the connection.
    Closed,
    /// No line within [`Limits::command_timeout`] (or the session's end).
    Timeout,
    /// Longer than [`Limits::max_line`] (or cut off by the client's close).
    TooLong,
}

async fn read_command<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    line: &mut Vec<u8>,
    limits: &Limits,
    deadline: Instant,
) -> Result<Read, End> {
    let wait = (Instant::now() + limits.command_timeout).min(deadline);
    line.clear();
    let read = timeout_at(
        wait,
        (&mut *io)
            .take(limits.max_line as u64)
            .read_until(b'\n', line),
    )
    .await;
    let Ok(read) = read else {
        return Ok(Read::Timeout);
    };
    Ok(if read? == 0 {
        Read::Closed
    } else if line.last() != Some(&b'\n') {
        Read::TooLong
    } else {
        Read::Line
    })
}

/// The reply to one command line, and whether the session ends after it;
/// what the command tells about the client goes into `obs`, a command the
/// decoy cannot take counts in `errors`.
fn answer(
    line: &[u8],
    pipelined: bool,
    obs: &mut Observation,
    errors: &mut u32,
    host: &str,
) -> (String, bool) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\r', '\n']);
    let (verb, arg) = match text.split_once(' ') {
        Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
        None => (text.to_ascii_uppercase(), ""),
    };
    if pipelined && verb != "QUIT" {
        obs.flags.insert(Flags::PIPELINING);
    }
    let reply = match verb.as_str() {
        "EHLO" | "HELO" if !arg.is_empty() => {
            obs.helo = Some(clean_helo(arg));
            obs.stage = obs.stage.max(Stage::Helo);
            if verb == "EHLO" {
                format!(
                    "250-{host}\r\n250-SIZE 10240000\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME"
                )
            } else {
                format!("250 {host}")
            }
        }
        "MAIL" if obs.stage >= Stage::Helo => match path(arg, "FROM:") {
            Some(path) => {
                obs.mail_domain = mail_domain(path);
                obs.stage = obs.stage.max(Stage::Mail);
                "250 2.1.0 Ok".to_string()
            }
            None => error(errors, "451 4.5.4 Syntax: MAIL FROM:<address>"),
        },
        "RCPT" if obs.stage >= Stage::Mail => match path(arg, "TO:") {
            Some(_) => {
                obs.stage = obs.stage.max(Stage::Rcpt);
                "451 4.7.1 Service temporarily unavailable, try again later".to_string()
            }
            None => error(errors, "451 4.5.4 Syntax: RCPT TO:<address>"),
        },
        "DATA" | "BDAT" if obs.stage >= Stage::Mail => {
            obs.stage = obs.stage.max(Stage::Data);
            let bye = "421 4.7.1 Service temporarily unavailable, closing connection";
            return (bye.to_string(), true);
        }
        "RSET" | "NOOP" => "250 2.0.0 Ok".to_string(),
        "VRFY" => "252 2.0.0 Cannot VRFY user".to_string(),
        "STARTTLS" => "454 4.7.0 TLS not available".to_string(),
        "QUIT" => return ("221 2.0.0 Bye".to_string(), true),
        "EHLO" | "HELO" | "MAIL" | "RCPT" | "DATA" | "BDAT" => {
            error(errors, "451 4.5.1 Bad sequence of commands")
        }
        _ => {
            if !text.is_ascii() || text.bytes().any(|b| b < 0x20 && b != b'\t') {
                obs.flags.insert(Flags::ABUSE);
            }
            error(errors, "451 4.5.2 Command not recognized")
        }
    };
    (reply, false)
}

fn error(errors: &mut u32, text: &str) -> String {
    *errors += 1;
    text.to_string()
}

/// How long a reply may take to write past the session's deadline.
const REPLY_GRACE: Duration = Duration::from_secs(2);

/// Writes one reply, within the session's deadline: a client that never
/// reads cannot hold a session open by leaving our replies unread.
async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    text: &str,
    deadline: Instant,
) -> std::io::Result<()> {
    // A reply after the deadline (the `421` saying so) gets a moment of its
    // own; replies per session are bounded by `max_commands`.
    let deadline = deadline.max(Instant::now() + REPLY_GRACE);
    let stream = io.get_mut();
    let write = async {
        stream.write_all(format!("{text}\r\n").as_bytes()).await?;
        stream.flush().await
    };
    match timeout_at(deadline, write).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the client does not read its replies",
        )),
    }
}

/// The `<path>` of `FROM:<path> params` (case-insensitive keyword, optional
/// space after the colon).
fn path<'a>(arg: &'a str, keyword: &str) -> Option<&'a str> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(&rest[..end])
}

/// The domain of an envelope sender, lower-cased; never the local part.
/// The null sender `<>` and anything that is not an address give `None`.
pub fn mail_domain(path: &str) -> Option<String> {
    let (_, domain) = path.rsplit_once('@')?;
    let domain = domain.trim_end_matches('.');
    if domain.is_empty()
        || domain.len() > 253
        || !domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b >= 0x80)
    {
        return None;
    }
    Some(domain.to_lowercase())
}

/// A HELO argument as stored: the first word, at most 255 bytes, printable.
fn clean_helo(arg: &str) -> String {
    let word = arg.split_whitespace().next().unwrap_or("");
    let mut out: String = word.chars().filter(|c| !c.is_control()).take(255).collect();
    out.make_ascii_lowercase();
    out
}

/// Binds the listen addresses (IPv6 ones with `IPV6_V6ONLY` so `[::]:25`
/// and `0.0.0.0:25` can both be given).
pub fn bind(addrs: &[SocketAddr]) -> std::io::Result<Vec<TcpListener>> {
    addrs
        .iter()
        .map(|addr| {
            let socket = match addr {
                SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
                SocketAddr::V6(_) => {
                    let s = socket2::Socket::new(
                        socket2::Domain::IPV6,
                        socket2::Type::STREAM,
                        Some(socket2::Protocol::TCP),
                    )?;
                    s.set_only_v6(true)?;
                    s.set_nonblocking(true)?;
                    tokio::net::TcpSocket::from_std_stream(s.into())
                }
            };
            socket.set_reuseaddr(true)?;
            socket.bind(*addr).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
            })?;
            socket.listen(1024)
        })
        .collect()
}

/// Accepts one connection on `listener` and serves it (for tests).
pub async fn serve_one(
    listener: &TcpListener,
    decoy: &Decoy,
    sink: &dyn Sink,
) -> std::io::Result<()> {
    let (stream, peer): (TcpStream, SocketAddr) = listener.accept().await?;
    let local = stream.local_addr().ok();
    session(stream, peer, local, decoy, sink).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    type Memory = MemorySink;

    fn decoy() -> Decoy {
        Decoy {
            hostname: "mx99.example.org".into(),
            limits: Limits {
                greet_wait: Duration::from_millis(200),
                ..Limits::default()
            },
        }
    }

    /// Runs a session where the client writes `script` all at once after
    /// `wait_greeting` (or before it), returns what the server wrote and the
    /// recorded observation.
    async fn talk(script: &[&str], wait_greeting: bool) -> (String, Observation) {
        let (client, server) = tokio::io::duplex(1 << 16);
        let sink = Memory::default();
        let peer: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let local: SocketAddr = "127.0.0.3:25".parse().unwrap();
        let d = decoy();
        let srv = session(server, peer, Some(local), &d, &sink);
        let cli = async move {
            let mut client = BufReader::new(client);
            let mut seen = String::new();
            if wait_greeting {
                loop {
                    let mut l = String::new();
                    client.read_line(&mut l).await.unwrap();
                    seen.push_str(&l);
                    if l.starts_with("220 ") {
                        break;
                    }
                }
            }
            for cmd in script {
                // The server may have hung up already (limits).
                if client.get_mut().write_all(cmd.as_bytes()).await.is_err() {
                    break;
                }
                if wait_greeting {
                    loop {
                        let mut l = String::new();
                        if client.read_line(&mut l).await.unwrap() == 0 {
                            return seen;
                        }
                        seen.push_str(&l);
                        if l.as_bytes().get(3) == Some(&b' ') {
                            break;
                        }
                    }
                }
            }
            let mut rest = String::new();
            client.read_to_string(&mut rest).await.unwrap();
            seen.push_str(&rest);
            seen
        };
        let (r, seen) = tokio::join!(srv, cli);
        r.unwrap();
        let obs = sink.observations()[0].clone();
        (seen, obs)
    }

    #[tokio::test]
    async fn polite_client_gets_451_at_rcpt_and_never_5xx() {
        let (seen, obs) = talk(
            &[
                "EHLO client.example.net\r\n",
                "MAIL FROM:<joe@Sender.Example.COM> SIZE=100\r\n",
                "RCPT TO:<john@example.org>\r\n",
                "DATA\r\n",
            ],
            true,
        )
        .await;
        assert!(
            seen.starts_with("220-mx99.example.org ESMTP\r\n220 mx99"),
            "{seen}"
        );
        assert!(seen.contains("451 4.7.1"), "{seen}");
        assert!(
            seen.ends_with("421 4.7.1 Service temporarily unavailable, closing connection\r\n")
        );
        assert!(!seen.lines().any(|l| l.starts_with('5')), "{seen}");
        assert!(!seen.contains("354"), "{seen}");
        assert_eq!(obs.stage, Stage::Data);
        assert_eq!(obs.helo.as_deref(), Some("client.example.net"));
        assert_eq!(obs.mail_domain.as_deref(), Some("sender.example.com"));
        assert!(obs.flags.is_empty(), "{:?}", obs.flags);
        assert_eq!(obs.client, "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(obs.local, Some("127.0.0.3".parse().unwrap()));
    }

    #[tokio::test]
    async fn talking_first_is_pregreet_and_a_burst_is_pipelining() {
        let (seen, obs) = talk(
            &["EHLO bot\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@example.org>\r\nQUIT\r\n"],
            false,
        )
        .await;
        assert!(obs.flags.contains(Flags::PREGREET), "{seen}");
        assert!(obs.flags.contains(Flags::PIPELINING), "{seen}");
        assert_eq!(obs.stage, Stage::Rcpt);
        assert!(seen.ends_with("221 2.0.0 Bye\r\n"), "{seen}");
    }

    #[tokio::test]
    async fn a_probe_that_quits_stays_at_helo() {
        let (_, obs) = talk(&["EHLO checker.example\r\n", "QUIT\r\n"], true).await;
        assert_eq!(obs.stage, Stage::Helo);
        assert!(obs.flags.is_empty());
    }

    #[tokio::test]
    async fn endless_line_and_garbage_are_cut_off() {
        let long = format!("EHLO {}\r\n", "a".repeat(5000));
        let (seen, obs) = talk(&[&long], true).await;
        assert!(
            seen.ends_with("421 4.5.2 Line too long, closing connection\r\n"),
            "{seen}"
        );
        assert!(obs.flags.contains(Flags::ABUSE));

        let (seen, obs) = talk(&["\x16\x03\x01\x02\x00\x01\x00\r\n"; 5], true).await;
        assert!(
            seen.ends_with("421 4.7.0 Too many errors, closing connection\r\n"),
            "{seen}"
        );
        assert!(obs.flags.contains(Flags::ABUSE));
        assert_eq!(obs.stage, Stage::Connect);
    }

    #[tokio::test]
    async fn out_of_order_commands_are_refused_softly() {
        let (seen, obs) = talk(
            &[
                "MAIL FROM:<a@b.example>\r\n",
                "RCPT TO:<x@y>\r\n",
                "QUIT\r\n",
            ],
            true,
        )
        .await;
        assert_eq!(seen.matches("451 4.5.1 Bad sequence").count(), 2, "{seen}");
        assert_eq!(obs.stage, Stage::Connect);
    }

    #[tokio::test(start_paused = true)]
    async fn silent_client_times_out() {
        let (client, server) = tokio::io::duplex(1024);
        let sink = Memory::default();
        let d = decoy();
        // As a dual-stack socket sees an IPv4 client.
        let peer: SocketAddr = "[::ffff:192.0.2.8]:1".parse().unwrap();
        let srv = session(server, peer, None, &d, &sink);
        let cli = async move {
            let mut client = client;
            let mut all = String::new();
            client.read_to_string(&mut all).await.unwrap();
            all
        };
        let (r, seen) = tokio::join!(srv, cli);
        r.unwrap();
        assert!(
            seen.ends_with("421 4.4.2 Timeout, closing connection\r\n"),
            "{seen}"
        );
        // Recorded under its IPv4 address: one client, one key.
        let client = sink.observations()[0].client;
        assert_eq!(client, "192.0.2.8".parse::<IpAddr>().unwrap());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Any bytes, in any chunks: the session ends (no hang), every
        /// reply is a 2xx or 4xx line, and the session is recorded.
        #[test]
        fn any_input_ends_softly(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700), 0..12),
            smtp_like in proptest::prelude::any::<bool>(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
            let (seen, recorded) = rt.block_on(async move {
                let (client, server) = tokio::io::duplex(1 << 12);
                let sink = Memory::default();
                let d = decoy();
                let peer: SocketAddr = "192.0.2.9:1".parse().unwrap();
                let srv = session(server, peer, None, &d, &sink);
                let cli = async move {
                    let (mut r, mut w) = tokio::io::split(client);
                    let writer = async move {
                        if smtp_like {
                            let _ = w.write_all(b"EHLO x\r\nMAIL FROM:<a@b.example>\r\n").await;
                        }
                        for c in chunks {
                            if w.write_all(&c).await.is_err() {
                                break;
                            }
                        }
                        // Keep the write side open: the server must end the
                        // session by itself (limits, timeouts).
                        std::future::pending::<()>().await;
                    };
                    let reader = async move {
                        let mut all = Vec::new();
                        let _ = r.read_to_end(&mut all).await;
                        all
                    };
                    tokio::select! {
                        all = reader => all,
                        _ = writer => unreachable!(),
                    }
                };
                let (_, seen) = tokio::join!(srv, cli);
                // Exactly one session, and its end recorded.
                let recorded = sink.0.lock().unwrap().iter().filter(|s| s.ended.is_some()).count();
                (seen, recorded)
            });
            let text = String::from_utf8_lossy(&seen);
            proptest::prop_assert_eq!(recorded, 1);
            for line in text.split("\r\n").filter(|l| !l.is_empty()) {
                proptest::prop_assert!(
                    line.starts_with('2') || line.starts_with('4'),
                    "reply {:?} in {:?}", line, text
                );
            }
            proptest::prop_assert!(text.ends_with("\r\n"), "{:?}", text);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_reads_is_dropped() {
        // A small pipe: our replies fill it, the client reads nothing.
        let (client, server) = tokio::io::duplex(256);
        let sink = Memory::default();
        let d = decoy();
        let peer: SocketAddr = "192.0.2.10:1".parse().unwrap();
        let (_r, mut w) = tokio::io::split(client);
        let flood = async move {
            for _ in 0..100_000 {
                if w.write_all(b"NOOP\r\n").await.is_err() {
                    break;
                }
            }
            std::future::pending::<()>().await
        };
        let started = Instant::now();
        tokio::select! {
            r = session(server, peer, None, &d, &sink) => assert!(r.is_err()),
            _ = flood => unreachable!(),
        }
        assert!(started.elapsed() <= d.limits.session_timeout + REPLY_GRACE);
    }

    #[tokio::test]
    async fn listens_on_ipv4_and_ipv6_at_once() {
        let listeners = bind(&["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()])
            .expect("bind 127.0.0.1 and ::1 (is IPv6 loopback configured?)");
        let d = decoy();
        for listener in &listeners {
            let addr = listener.local_addr().unwrap();
            let sink = Memory::default();
            let client = async {
                let mut s = BufReader::new(TcpStream::connect(addr).await.unwrap());
                let mut l = String::new();
                while !l.starts_with("220 ") {
                    l.clear();
                    s.read_line(&mut l).await.unwrap();
                }
                s.get_mut().write_all(b"QUIT\r\n").await.unwrap();
                let mut rest = String::new();
                s.read_to_string(&mut rest).await.unwrap();
                rest
            };
            let (served, rest) = tokio::join!(serve_one(listener, &d, &sink), client);
            served.unwrap();
            assert_eq!(rest, "221 2.0.0 Bye\r\n");
            let obs = sink.observations()[0].clone();
            assert_eq!(obs.client, addr.ip());
            assert_eq!(obs.local, Some(addr.ip()));
        }
    }

    #[test]
    fn envelope_domains_never_keep_local_parts() {
        assert_eq!(
            mail_domain("Joe.Bloggs@Example.ORG."),
            Some("example.org".into())
        );
        assert_eq!(mail_domain(""), None);
        assert_eq!(mail_domain("no-at-sign"), None);
        assert_eq!(mail_domain("a@b c"), None);
        assert_eq!(path("from:<x@y>", "FROM:"), Some("x@y"));
        assert_eq!(path("FROM: <>", "FROM:"), Some(""));
        assert_eq!(path("TO:x@y", "TO:"), None);
    }
}

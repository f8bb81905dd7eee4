//! An HTTPS server for MTA-STS policy tests (RFC 8461): mxkit fetches a
//! domain's policy from `https://mta-sts.<domain>/.well-known/mta-sts.txt`,
//! and its tests need a real server there, with real certificates, that
//! can also misbehave on demand (wrong certificate, redirect, chunked or
//! endless body, a body sent one octet at a time, stalls before or after
//! the handshake).
//!
//! Words:
//! - a **site** ([`Site`]) is one virtual host: the name a client sends in
//!   TLS SNI, the names in the certificate presented for it (from a
//!   [`TestCa`]), and its **behaviour** ([`Behavior`]), what it does with a
//!   connection;
//! - a **request** ([`Request`]) is the head of one HTTP request the server
//!   read, logged before it answers, so that a test can check what the
//!   client asked (path, Host header, no caching headers).
//!
//! One [`PolicyServer`] serves any number of sites on one address (a
//! loopback address, usually port 443: tests run as root), choosing the
//! site by SNI; a ClientHello without SNI or with an SNI no site has fails
//! the handshake. It answers one request per connection and closes it
//! (`Connection: close`), like a minimal HTTP/1.1 server. It runs on std
//! threads and sync rustls (no async runtime), binds before
//! [`PolicyServer::start`] returns (so the port is ready then), and stops
//! when dropped: every connection is shut down, every thread joined, and
//! the port is free again when the drop returns.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::server::{Acceptor, ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::certs::TestCa;
use crate::sys;

/// The path of the policy (RFC 8461 section 3.2); `Serve` and `Chunked`
/// sites answer 404 for any other.
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";

/// The largest request head read (request line, headers and the blank
/// line); a longer one is answered 400.
pub const MAX_HEAD: usize = 16 * 1024;

/// Read and write timeout of accepted sockets: how long a blocked read or
/// write waits before the connection's thread looks at the stop flag again
/// (dropping the server also shuts the sockets down, which wakes them at
/// once).
pub const IO_TIMEOUT: Duration = Duration::from_secs(1);

/// Largest chunk of a [`Behavior::Chunked`] body.
pub const CHUNK: usize = 1000;

/// How long the server waits, after its response, for the client to close
/// (so that closing does not reset a connection the client still reads).
const LINGER: Duration = Duration::from_secs(1);

/// What one policy host does with a request.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// Answer `status` with this Content-Type (None: no Content-Type header)
    /// and body, with a Content-Length header.
    Serve {
        /// The status code.
        status: u16,
        /// The Content-Type header's value, if one is sent.
        content_type: Option<String>,
        /// The body, sent exactly as given.
        body: Vec<u8>,
    },
    /// Same, but the body sent with `Transfer-Encoding: chunked` (chunks of
    /// at most [`CHUNK`] octets), status 200.
    Chunked {
        /// The Content-Type header's value.
        content_type: String,
        /// The body, before chunking.
        body: Vec<u8>,
    },
    /// `301 Moved Permanently` with `Location: location`, `text/plain` body
    /// "moved".
    Redirect {
        /// The Location header's value.
        location: String,
    },
    /// Status 200 text/plain with a Content-Length of `body.len()`, then the
    /// body one octet per `every` (each octet after a wait of `every`).
    Trickle {
        /// The body.
        body: Vec<u8>,
        /// The wait before each octet.
        every: Duration,
    },
    /// Status line and headers (200, text/plain, Content-Length 100) and
    /// then nothing: the connection stays open without a byte more until the
    /// client goes or the server is dropped.
    StallAfterHeaders,
    /// Accept TCP and then never answer the TLS handshake (the ClientHello
    /// is read, to learn the SNI, and the socket held open silently).
    StallHandshake,
    /// Status 200, text/plain, an endless body: no Content-Length, bytes
    /// written until the client closes (a "10 MB or more" body).
    Endless,
}

impl Behavior {
    /// The usual good answer: 200, `text/plain; charset=utf-8`, this policy
    /// text.
    pub fn policy(text: &str) -> Behavior {
        Behavior::Serve {
            status: 200,
            content_type: Some("text/plain; charset=utf-8".to_string()),
            body: text.as_bytes().to_vec(),
        }
    }
}

/// One virtual host.
#[derive(Clone, Debug)]
pub struct Site {
    /// The host name clients send in SNI (e.g. "mta-sts.example.test"),
    /// lower case.
    pub host: String,
    /// The names in the certificate presented for that SNI. Usually
    /// `vec![host.clone()]`; a test of a wrong certificate gives other names
    /// (e.g. "www.example.test").
    pub cert_names: Vec<String>,
    /// What the host does with a connection.
    pub behavior: Behavior,
}

impl Site {
    /// A site whose certificate names its host (`host` is lower-cased).
    pub fn new(host: &str, behavior: Behavior) -> Site {
        let host = host.to_ascii_lowercase();
        Site {
            cert_names: vec![host.clone()],
            host,
            behavior,
        }
    }

    /// Present a certificate for these names instead.
    pub fn with_cert_names(self, names: &[&str]) -> Site {
        Site {
            cert_names: names.iter().map(|n| n.to_string()).collect(),
            ..self
        }
    }
}

/// One request the server read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The SNI of the connection (lower case).
    pub sni: String,
    /// The request line, e.g. "GET /.well-known/mta-sts.txt HTTP/1.1".
    pub line: String,
    /// The Host header's value (trimmed), if any.
    pub host_header: Option<String>,
    /// Every header line as received, "Name: value" (for tests that check
    /// there is no caching header such as If-None-Match / If-Modified-Since).
    pub headers: Vec<String>,
}

impl Request {
    /// The request target of the request line (its second word), e.g.
    /// "/.well-known/mta-sts.txt"; "" if there is none.
    pub fn target(&self) -> &str {
        self.line.split(' ').nth(1).unwrap_or("")
    }

    /// The value of the first header named `name` (case-insensitive),
    /// trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|h| {
            let (n, v) = h.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Picks the certificate by SNI: a map from lower-case host name to its
/// key; an unknown or missing SNI gets none, which fails the handshake.
#[derive(Debug)]
struct BySni(HashMap<String, Arc<CertifiedKey>>);

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        self.0.get(&name).cloned()
    }
}

/// What the connection threads share with the handle.
struct Shared {
    config: Arc<ServerConfig>,
    sites: HashMap<String, Behavior>,
    log: Mutex<Log>,
    state: Mutex<State>,
    /// Notified when `state.stopped` is set (wakes [`Behavior::Trickle`] waits).
    wake: Condvar,
}

#[derive(Default)]
struct Log {
    requests: Vec<Request>,
    hellos: Vec<Option<String>>,
}

#[derive(Default)]
struct State {
    stopped: bool,
    /// Clones of the open connections' sockets, to shut them down on drop.
    conns: HashMap<u64, TcpStream>,
    next: u64,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopped(&self) -> bool {
        self.state().stopped
    }

    /// Wait `d` unless the server stops first; whether it still runs.
    fn pause(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut state = self.state();
        while !state.stopped {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            state = self
                .wake
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        false
    }

    /// Remember a clone of `stream` so that a drop can shut it down; None
    /// if the server is stopping (the connection is then not served).
    fn register(self: &Arc<Self>, stream: &TcpStream) -> Option<Registered> {
        let clone = stream.try_clone().ok()?;
        let mut state = self.state();
        if state.stopped {
            return None;
        }
        let id = state.next;
        state.next += 1;
        state.conns.insert(id, clone);
        Some(Registered {
            shared: Arc::clone(self),
            id,
        })
    }
}

/// Removes a connection from [`State::conns`] when its thread ends.
struct Registered {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared.state().conns.remove(&self.id);
    }
}

/// A running HTTPS server for MTA-STS policy hosts; stops when dropped.
pub struct PolicyServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl fmt::Debug for PolicyServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hosts: Vec<&String> = self.shared.sites.keys().collect();
        hosts.sort();
        f.debug_struct("PolicyServer")
            .field("addr", &self.addr)
            .field("hosts", &hosts)
            .finish()
    }
}

impl PolicyServer {
    /// Start serving `sites` on `addr` (an IPv4 loopback address, e.g.
    /// 127.0.170.1:443; port 0 picks a free port, see
    /// [`PolicyServer::addr`]) with certificates from `ca`. The port is
    /// listening when this returns. Panics with a clear message when the
    /// address is not loopback, two sites have the same host, a certificate
    /// cannot be made, or the address cannot be bound (port 443 needs root).
    pub fn start(addr: SocketAddr, ca: &TestCa, sites: Vec<Site>) -> PolicyServer {
        sys::assert_loopback_v4("https", addr);
        let mut keys = HashMap::new();
        let mut behaviors = HashMap::new();
        for site in sites {
            let host = site.host.to_ascii_lowercase();
            let names: Vec<&str> = site.cert_names.iter().map(String::as_str).collect();
            keys.insert(host.clone(), certified_key(ca, &names));
            assert!(
                behaviors.insert(host.clone(), site.behavior).is_none(),
                "testbed::https: two sites for host {host}"
            );
        }
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap_or_else(|e| panic!("testbed::https: cannot set TLS versions: {e}"))
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(BySni(keys)));

        let listener = listen(addr).unwrap_or_else(|e| {
            let hint = if e.kind() == io::ErrorKind::PermissionDenied && addr.port() < 1024 {
                " (ports below 1024, such as 443, need root)"
            } else {
                ""
            };
            panic!("testbed::https: cannot bind {addr}: {e}{hint}")
        });
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("testbed::https: local address of {addr}: {e}"));
        let shared = Arc::new(Shared {
            config: Arc::new(config),
            sites: behaviors,
            log: Mutex::new(Log::default()),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let s = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name(format!("https-{addr}"))
            .spawn(move || accept_loop(listener, &s))
            .unwrap_or_else(|e| panic!("testbed::https: cannot start a thread: {e}"));
        PolicyServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request read so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.log().requests.clone()
    }

    /// Requests whose SNI is `host` (compared case-insensitively).
    pub fn requests_for(&self, host: &str) -> Vec<Request> {
        self.shared
            .log()
            .requests
            .iter()
            .filter(|r| r.sni.eq_ignore_ascii_case(host))
            .cloned()
            .collect()
    }

    /// The SNI of every ClientHello read so far, in arrival order (None: no
    /// SNI), whether or not the handshake went on: the only trace of
    /// connections to a [`Behavior::StallHandshake`] site, of unknown SNIs,
    /// and of clients that rejected the certificate.
    pub fn hellos(&self) -> Vec<Option<String>> {
        self.shared.log().hellos.clone()
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        {
            let mut state = self.shared.state();
            state.stopped = true;
            for conn in state.conns.values() {
                let _ = conn.shutdown(Shutdown::Both);
            }
        }
        self.shared.wake.notify_all();
        // Wake the blocking accept so it sees `stopped`.
        let _ = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// A listening socket on `addr` with SO_REUSEADDR (so that a rerun binds
/// the address while connections of the last run are in TIME_WAIT).
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// The leaf certificate and key for `names`, signed by `ca`.
fn certified_key(ca: &TestCa, names: &[&str]) -> Arc<CertifiedKey> {
    let (cert_pem, key_pem) = ca.leaf_pem(names);
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("testbed::https: bad certificate PEM for {names:?}: {e}"));
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .unwrap_or_else(|e| panic!("testbed::https: bad key PEM for {names:?}: {e}"));
    let key = rustls::crypto::ring::sign::any_supported_type(&key)
        .unwrap_or_else(|e| panic!("testbed::https: unusable key for {names:?}: {e}"));
    Arc::new(CertifiedKey::new(certs, key))
}

/// Accept connections, one thread each, until the server stops; then join
/// the connection threads (their sockets were shut down) and return,
/// closing the listener.
fn accept_loop(listener: TcpListener, shared: &Arc<Shared>) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    for stream in listener.incoming() {
        if shared.stopped() {
            break;
        }
        let Ok(stream) = stream else { continue };
        conns.retain(|t| !t.is_finished());
        let s = Arc::clone(shared);
        match thread::Builder::new().spawn(move || serve(stream, &s)) {
            Ok(t) => conns.push(t),
            Err(_) => continue,
        }
    }
    drop(listener);
    for t in conns {
        let _ = t.join();
    }
}

/// Whether `e` is a read or write timeout (the socket timeouts), after
/// which the caller looks at the stop flag and tries again.
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Serve one connection: read the ClientHello, pick the site by SNI, and
/// do what its behaviour says.
fn serve(mut stream: TcpStream, shared: &Arc<Shared>) {
    let Some(_registered) = shared.register(&stream) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);

    let mut acceptor = Acceptor::default();
    let accepted = loop {
        match acceptor.read_tls(&mut stream) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if timed_out(&e) => {
                if shared.stopped() {
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => break accepted,
            Ok(None) => {}
            Err((_, mut alert)) => {
                let _ = alert.write_all(&mut stream);
                return;
            }
        }
    };
    let sni = accepted
        .client_hello()
        .server_name()
        .map(str::to_ascii_lowercase);
    shared.log().hellos.push(sni.clone());
    let site = sni
        .as_ref()
        .and_then(|name| Some((name.clone(), shared.sites.get(name)?)));
    if let Some((_, Behavior::StallHandshake)) = site {
        hold(&mut stream, shared);
        return;
    }
    // With no site, the resolver finds no certificate and this fails,
    // with an alert for the client.
    let conn = match accepted.into_connection(Arc::clone(&shared.config)) {
        Ok(conn) => conn,
        Err((_, mut alert)) => {
            let _ = alert.write_all(&mut stream);
            return;
        }
    };
    let Some((sni, behavior)) = site else { return };
    let mut tls = StreamOwned::new(conn, stream);
    let head = match read_head(&mut tls, shared) {
        Head::Complete(head) => head,
        Head::TooLarge => {
            let _ = respond(
                &mut tls,
                400,
                Some("text/plain"),
                Length::Fixed(11),
                b"bad request",
            );
            finish(tls, shared);
            return;
        }
        Head::Gone => return,
    };
    let request = parse_head(&sni, &head);
    let path = path_of(request.target()).to_string();
    shared.log().requests.push(request);
    if answer(&mut tls, behavior, &path, shared).is_ok() {
        finish(tls, shared);
    }
}

/// Read and discard whatever comes until the peer closes, an error, or the
/// server stops.
fn hold(r: &mut impl Read, shared: &Shared) {
    drain(r, shared, None);
}

/// Read and discard whatever comes until the peer closes, an error, the
/// server stops, or `deadline` (if any) passes.
fn drain(r: &mut impl Read, shared: &Shared, deadline: Option<Instant>) {
    let mut buf = [0u8; 4096];
    while deadline.is_none_or(|d| Instant::now() < d) {
        match r.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if timed_out(&e) => {
                if shared.stopped() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// The outcome of reading a request head.
enum Head {
    /// The head, without the blank line that ends it.
    Complete(Vec<u8>),
    /// More than [`MAX_HEAD`] octets without the blank line.
    TooLarge,
    /// The client went, the handshake failed, or the server stops.
    Gone,
}

/// Read up to the blank line ending the request head (CRLF CRLF, or a bare
/// LF LF from a sloppy client).
fn read_head(r: &mut impl Read, shared: &Shared) -> Head {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = head_end(&buf) {
            return Head::Complete(buf[..end].to_vec());
        }
        if buf.len() >= MAX_HEAD {
            return Head::TooLarge;
        }
        match r.read(&mut chunk) {
            Ok(0) => return Head::Gone,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if timed_out(&e) => {
                if shared.stopped() {
                    return Head::Gone;
                }
            }
            Err(_) => return Head::Gone,
        }
    }
}

/// Where the head in `buf` ends (the offset of its blank line's line
/// break), if it is complete within [`MAX_HEAD`] octets.
fn head_end(buf: &[u8]) -> Option<usize> {
    let limit = buf.len().min(MAX_HEAD);
    (0..limit).find(|&i| {
        let rest = &buf[i..limit];
        rest.starts_with(b"\r\n\r\n") || rest.starts_with(b"\n\n")
    })
}

/// The request as logged: request line, Host header, all header lines.
fn parse_head(sni: &str, head: &[u8]) -> Request {
    let text = String::from_utf8_lossy(head);
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string());
    let line = lines.next().unwrap_or_default();
    let headers: Vec<String> = lines.filter(|l| !l.is_empty()).collect();
    let mut request = Request {
        sni: sni.to_string(),
        line,
        host_header: None,
        headers,
    };
    request.host_header = request.header("Host").map(str::to_string);
    request
}

/// The path of a request target: without a query or fragment, and without
/// the scheme and authority of an absolute-form target.
fn path_of(target: &str) -> &str {
    let mut path = target;
    for scheme in ["https://", "http://"] {
        if let Some(rest) = path.strip_prefix(scheme) {
            path = rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

/// How the body's length is told.
enum Length {
    /// A Content-Length header.
    Fixed(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the connection does.
    UntilClose,
}

/// The reason phrase sent with `status`.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// The response head, CRLF line endings, with `Connection: close`.
fn head_bytes(
    status: u16,
    content_type: Option<&str>,
    length: &Length,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    match length {
        Length::Fixed(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        Length::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        Length::UntilClose => {}
    }
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    head.into_bytes()
}

/// Write a whole response (head and `body` as it goes on the wire).
fn respond(
    w: &mut impl Write,
    status: u16,
    content_type: Option<&str>,
    length: Length,
    body: &[u8],
) -> io::Result<()> {
    let mut out = head_bytes(status, content_type, &length, &[]);
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}

/// `body` in chunked transfer coding, chunks of at most [`CHUNK`] octets.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / CHUNK * 8 + 8);
    for chunk in body.chunks(CHUNK) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Write all of `data`, retrying after write timeouts until the server
/// stops (an error then).
fn write_patiently(w: &mut impl Write, data: &[u8], shared: &Shared) -> io::Result<()> {
    let mut rest = data;
    while !rest.is_empty() {
        match w.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if timed_out(&e) && !shared.stopped() => {}
            Err(e) => return Err(e),
        }
    }
    loop {
        match w.flush() {
            Ok(()) => return Ok(()),
            Err(e) if timed_out(&e) && !shared.stopped() => {}
            Err(e) => return Err(e),
        }
    }
}

/// Answer one request as `behavior` says. An error: the client went or
/// the server stops, and the connection is dropped without more ado.
fn answer(
    tls: &mut StreamOwned<ServerConnection, TcpStream>,
    behavior: &Behavior,
    path: &str,
    shared: &Shared,
) -> io::Result<()> {
    let not_found = || {
        let mut out = head_bytes(404, Some("text/plain"), &Length::Fixed(9), &[]);
        out.extend_from_slice(b"not found");
        out
    };
    match behavior {
        Behavior::Serve {
            status,
            content_type,
            body,
        } => {
            let out = if path == POLICY_PATH {
                let mut out = head_bytes(
                    *status,
                    content_type.as_deref(),
                    &Length::Fixed(body.len()),
                    &[],
                );
                out.extend_from_slice(body);
                out
            } else {
                not_found()
            };
            write_patiently(tls, &out, shared)
        }
        Behavior::Chunked { content_type, body } => {
            let out = if path == POLICY_PATH {
                let mut out = head_bytes(200, Some(content_type), &Length::Chunked, &[]);
                out.extend_from_slice(&chunked(body));
                out
            } else {
                not_found()
            };
            write_patiently(tls, &out, shared)
        }
        Behavior::Redirect { location } => {
            let mut out = head_bytes(
                301,
                Some("text/plain"),
                &Length::Fixed(5),
                &[("Location", location)],
            );
            out.extend_from_slice(b"moved");
            write_patiently(tls, &out, shared)
        }
        Behavior::Trickle { body, every } => {
            let head = head_bytes(200, Some("text/plain"), &Length::Fixed(body.len()), &[]);
            write_patiently(tls, &head, shared)?;
            for octet in body {
                if !shared.pause(*every) {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                write_patiently(tls, std::slice::from_ref(octet), shared)?;
            }
            Ok(())
        }
        Behavior::StallAfterHeaders => {
            let head = head_bytes(200, Some("text/plain"), &Length::Fixed(100), &[]);
            write_patiently(tls, &head, shared)?;
            hold(tls, shared);
            Err(io::ErrorKind::Interrupted.into())
        }
        Behavior::Endless => {
            let head = head_bytes(200, Some("text/plain"), &Length::UntilClose, &[]);
            write_patiently(tls, &head, shared)?;
            let block = b"endless body, endless body, endless body, endless!\n".repeat(320);
            loop {
                write_patiently(tls, &block, shared)?;
            }
        }
        // Handled before the handshake.
        Behavior::StallHandshake => Err(io::ErrorKind::Interrupted.into()),
    }
}

/// End a connection after a complete response: close_notify, FIN, and a
/// short wait for the client to close too (closing a socket with unread
/// data would reset the connection and could lose the response's tail).
fn finish(mut tls: StreamOwned<ServerConnection, TcpStream>, shared: &Shared) {
    tls.conn.send_close_notify();
    let _ = tls.flush();
    let mut sock = tls.sock;
    let _ = sock.shutdown(Shutdown::Write);
    drain(&mut sock, shared, Some(Instant::now() + LINGER));
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::{IpAddr, Ipv4Addr};

    use rustls::pki_types::ServerName;
    use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore};

    /// The tests' server address; the tests take turns on it.
    const IP: Ipv4Addr = Ipv4Addr::new(127, 0, 170, 1);
    static PORT_443: Mutex<()> = Mutex::new(());

    const POLICY: &str =
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 86400\r\n";

    fn addr() -> SocketAddr {
        assert!(
            sys::is_root(),
            "testbed::https tests bind port 443 and need root (run them as root)"
        );
        SocketAddr::new(IpAddr::V4(IP), 443)
    }

    /// Hold the address for the length of a test.
    fn turn() -> MutexGuard<'static, ()> {
        PORT_443.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn client_config(ca: &TestCa) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.ca_pem().as_bytes()).expect("CA PEM"))
            .expect("CA certificate");
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        Arc::new(config)
    }

    type Client = StreamOwned<ClientConnection, TcpStream>;

    fn connect(server: &PolicyServer, ca: &TestCa, sni: &str) -> Client {
        let sock =
            TcpStream::connect_timeout(&server.addr(), Duration::from_secs(1)).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        sock.set_write_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let name = ServerName::try_from(sni.to_string()).expect("server name");
        let conn = ClientConnection::new(client_config(ca), name).expect("client connection");
        StreamOwned::new(conn, sock)
    }

    /// GET `path` with SNI and Host `sni`; the raw response (head and body).
    fn get(server: &PolicyServer, ca: &TestCa, sni: &str, path: &str) -> io::Result<Vec<u8>> {
        let mut client = connect(server, ca, sni);
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {sni}\r\nUser-Agent: testbed\r\nAccept: */*\r\n\r\n"
        );
        client.write_all(req.as_bytes())?;
        client.flush()?;
        let mut out = Vec::new();
        client.read_to_end(&mut out)?;
        Ok(out)
    }

    /// (status line, header lines, body) of a raw response.
    fn split(resp: &[u8]) -> (String, Vec<String>, Vec<u8>) {
        let end = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of head");
        let head = std::str::from_utf8(&resp[..end]).expect("UTF-8 head");
        let mut lines = head.split("\r\n").map(str::to_string);
        let status = lines.next().unwrap();
        (status, lines.collect(), resp[end + 4..].to_vec())
    }

    fn header<'a>(headers: &'a [String], name: &str) -> Option<&'a str> {
        headers.iter().find_map(|h| {
            let (n, v) = h.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn dechunk(mut body: &[u8]) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let eol = body.windows(2).position(|w| w == b"\r\n").expect("size");
            let size =
                usize::from_str_radix(std::str::from_utf8(&body[..eol]).unwrap(), 16).unwrap();
            body = &body[eol + 2..];
            if size == 0 {
                assert_eq!(body, b"\r\n", "trailer");
                return (out, sizes);
            }
            sizes.push(size);
            out.extend_from_slice(&body[..size]);
            assert_eq!(&body[size..size + 2], b"\r\n");
            body = &body[size + 2..];
        }
    }

    #[test]
    fn serves_the_policy() {
        let _turn = turn();
        let ca = TestCa::new();
        let host = "mta-sts.example.test";
        let server =
            PolicyServer::start(addr(), &ca, vec![Site::new(host, Behavior::policy(POLICY))]);
        let resp = get(&server, &ca, host, POLICY_PATH).expect("fetch");
        let (status, headers, body) = split(&resp);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(
            header(&headers, "Content-Type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            header(&headers, "Content-Length"),
            Some(POLICY.len().to_string().as_str())
        );
        assert_eq!(header(&headers, "Connection"), Some("close"));
        assert_eq!(body, POLICY.as_bytes());

        // Another path: 404.
        let resp = get(&server, &ca, host, "/mta-sts.txt").expect("fetch");
        assert_eq!(split(&resp).0, "HTTP/1.1 404 Not Found");
    }

    #[test]
    fn sni_selects_the_site() {
        let _turn = turn();
        let ca = TestCa::new();
        let server = PolicyServer::start(
            addr(),
            &ca,
            vec![
                Site::new("mta-sts.a.test", Behavior::policy("policy A")),
                Site::new(
                    "MTA-STS.B.test",
                    Behavior::Serve {
                        status: 200,
                        content_type: None,
                        body: b"policy B".to_vec(),
                    },
                ),
            ],
        );
        let a = get(&server, &ca, "mta-sts.a.test", POLICY_PATH).expect("fetch A");
        let (_, headers_a, body_a) = split(&a);
        assert_eq!(body_a, b"policy A");
        assert!(header(&headers_a, "Content-Type").is_some());
        let b = get(&server, &ca, "mta-sts.b.test", POLICY_PATH).expect("fetch B");
        let (_, headers_b, body_b) = split(&b);
        assert_eq!(body_b, b"policy B");
        assert_eq!(header(&headers_b, "Content-Type"), None);

        // No site for this SNI: the handshake fails.
        let err = get(&server, &ca, "mta-sts.c.test", POLICY_PATH).expect_err("unknown SNI");
        assert!(
            err.get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>())
                .is_some(),
            "a TLS error, not {err:?}"
        );
        assert_eq!(
            server.hellos(),
            vec![
                Some("mta-sts.a.test".to_string()),
                Some("mta-sts.b.test".to_string()),
                Some("mta-sts.c.test".to_string()),
            ]
        );
    }

    #[test]
    fn wrong_certificate_names_fail_verification() {
        let _turn = turn();
        let ca = TestCa::new();
        let host = "mta-sts.wrong.test";
        let server = PolicyServer::start(
            addr(),
            &ca,
            vec![Site::new(host, Behavior::policy(POLICY)).with_cert_names(&["www.wrong.test"])],
        );
        let err = get(&server, &ca, host, POLICY_PATH).expect_err("a name error");
        let tls = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .unwrap_or_else(|| panic!("not a TLS error: {err:?}"));
        assert!(
            matches!(
                tls,
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "not a name error: {tls:?}"
        );
        assert!(server.requests().is_empty());
    }

    #[test]
    fn redirect_carries_location() {
        let _turn = turn();
        let ca = TestCa::new();
        let host = "mta-sts.moved.test";
        let to = "https://mta-sts.elsewhere.test/.well-known/mta-sts.txt";
        let server = PolicyServer::start(
            addr(),
            &ca,
            vec![Site::new(
                host,
                Behavior::Redirect {
                    location: to.to_string(),
                },
            )],
        );
        let (status, headers, body) = split(&get(&server, &ca, host, POLICY_PATH).unwrap());
        assert_eq!(status, "HTTP/1.1 301 Moved Permanently");
        assert_eq!(header(&headers, "Location"), Some(to));
        assert_eq!(body, b"moved");
    }

    #[test]
    fn chunked_body_decodes_to_the_original() {
        let _turn = turn();
        let ca = TestCa::new();
        let host = "mta-sts.chunked.test";
        let policy: Vec<u8> = POLICY.repeat(40).into_bytes();
        let server = PolicyServer::start(
            addr(),
            &ca,
            vec![Site::new(
                host,
                Behavior::Chunked {
                    content_type: "text/plain".to_string(),
                    body: policy.clone(),
                },
            )],
        );
        let (status, headers, body) = split(&get(&server, &ca, host, POLICY_PATH).unwrap());
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(header(&headers, "Transfer-Encoding"), Some("chunked"));
        assert_eq!(header(&headers, "Content-Length"), None);
        let (decoded, sizes) = dechunk(&body);
        assert_eq!(decoded, policy);
        assert!(
            sizes.len() > 1 && sizes.iter().all(|&n| n <= CHUNK),
            "{sizes:?}"
        );
    }

    #[test]
    fn requests_are_recorded() {
        let _turn = turn();
        let ca = TestCa::new();
        let server = PolicyServer::start(
            addr(),
            &ca,
            vec![
                Site::new("mta-sts.one.test", Behavior::policy(POLICY)),
                Site::new("mta-sts.two.test", Behavior::policy(POLICY)),
            ],
        );
        get(&server, &ca, "mta-sts.one.test", POLICY_PATH).unwrap();
        get(&server, &ca, "mta-sts.two.test", "/other?x=1").unwrap();
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(
            requests[0],
            Request {
                sni: "mta-sts.one.test".to_string(),
                line: format!("GET {POLICY_PATH} HTTP/1.1"),
                host_header: Some("mta-sts.one.test".to_string()),
                headers: vec![
                    "Host: mta-sts.one.test".to_string(),
                    "User-Agent: testbed".to_string(),
                    "Accept: */*".to_string(),
                ],
            }
        );
        assert_eq!(requests[0].target(), POLICY_PATH);
        assert_eq!(requests[1].target(), "/other?x=1");
        assert_eq!(requests[1].header("user-agent"), Some("testbed"));
        assert_eq!(
            server.requests_for("mta-sts.two.test"),
            vec![requests[1].clone()]
        );
        assert!(server.requests_for("mta-sts.three.test").is_empty());
    }

    #[test]
    fn oversized_head_gets_400() {
        let _turn = turn();
        let ca = TestCa::new();
        let host = "mta-sts.big.test";
        let server =
            PolicyServer::start(addr(), &ca, vec![Site::new(host, Behavior::policy(POLICY))]);
        let mut client = connect(&server, &ca, host);
        let mut req = format!("GET {POLICY_PATH} HTTP/1.1\r\nHost: {host}\r\n");
        req.push_str(&format!("X-Padding: {}\r\n", "x".repeat(MAX_HEAD)));
        client.write_all(req.as_bytes()).unwrap();
        client.flush().unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).unwrap();
        assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"), "{out:?}");
        assert!(server.requests().is_empty());
    }

    #[test]
    fn trickle_and_endless() {
        let _turn = turn();
        let ca = TestCa::new();
        let server = PolicyServer::start(
            addr(),
            &ca,
            vec![
                Site::new(
                    "mta-sts.slow.test",
                    Behavior::Trickle {
                        body: b"abcde".to_vec(),
                        every: Duration::from_millis(20),
                    },
                ),
                Site::new("mta-sts.endless.test", Behavior::Endless),
            ],
        );
        let started = Instant::now();
        let (status, headers, body) =
            split(&get(&server, &ca, "mta-sts.slow.test", POLICY_PATH).unwrap());
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(header(&headers, "Content-Length"), Some("5"));
        assert_eq!(body, b"abcde");
        assert!(started.elapsed() >= Duration::from_millis(100));

        let mut client = connect(&server, &ca, "mta-sts.endless.test");
        client
            .write_all(format!("GET {POLICY_PATH} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let mut got = 0usize;
        let mut buf = vec![0u8; 65536];
        while got < 1 << 20 {
            let n = client.read(&mut buf).expect("endless read");
            assert!(n > 0, "endless body ended after {got} octets");
            got += n;
        }
        // The client goes: the server's thread ends on its write error (or
        // at the drop, which must not wait for it).
        drop(client);
        let dropped = Instant::now();
        drop(server);
        assert!(dropped.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn drop_stops_everything_and_frees_the_port() {
        let _turn = turn();
        let ca = TestCa::new();
        let server = PolicyServer::start(
            addr(),
            &ca,
            vec![
                Site::new("mta-sts.stall.test", Behavior::StallAfterHeaders),
                Site::new("mta-sts.mute.test", Behavior::StallHandshake),
                Site::new(
                    "mta-sts.slow.test",
                    Behavior::Trickle {
                        body: vec![b'x'; 100],
                        every: Duration::from_secs(10),
                    },
                ),
                Site::new("mta-sts.endless.test", Behavior::Endless),
            ],
        );
        // Stalled after the headers: the head arrives, then nothing.
        let mut stalled = connect(&server, &ca, "mta-sts.stall.test");
        stalled
            .write_all(format!("GET {POLICY_PATH} HTTP/1.1\r\n\r\n").as_bytes())
            .unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while head_end(&head).is_none() {
            let n = stalled.read(&mut buf).expect("head");
            assert!(n > 0);
            head.extend_from_slice(&buf[..n]);
        }
        assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
        stalled
            .sock
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let err = stalled.read(&mut buf).expect_err("no body");
        assert!(timed_out(&err), "{err:?}");

        // Stalled handshake: the ClientHello gets no answer.
        let mut mute = connect(&server, &ca, "mta-sts.mute.test");
        mute.sock
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let err = mute
            .conn
            .complete_io(&mut mute.sock)
            .expect_err("no handshake");
        assert!(timed_out(&err), "{err:?}");
        assert!(mute.conn.is_handshaking());

        // Trickle and endless clients that stay (the endless one not reading).
        let mut slow = connect(&server, &ca, "mta-sts.slow.test");
        slow.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut endless = connect(&server, &ca, "mta-sts.endless.test");
        endless.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert!(sys::poll_until(Duration::from_secs(1), || server
            .requests()
            .len()
            == 3));

        let at = server.addr();
        let dropped = Instant::now();
        drop(server);
        assert!(
            dropped.elapsed() < Duration::from_millis(500),
            "drop took {:?}",
            dropped.elapsed()
        );
        let again = TcpListener::bind(at).expect("the port is free after the drop");
        drop(again);
        // The clients see their connections end.
        stalled
            .sock
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut rest = Vec::new();
        assert!(!matches!(stalled.read_to_end(&mut rest), Err(ref e) if timed_out(e)));
        drop((slow, endless, mute));
    }

    #[test]
    fn paths() {
        assert_eq!(path_of(POLICY_PATH), POLICY_PATH);
        assert_eq!(path_of("/.well-known/mta-sts.txt?x"), POLICY_PATH);
        assert_eq!(
            path_of("https://h.test/.well-known/mta-sts.txt"),
            POLICY_PATH
        );
        assert_eq!(path_of("https://h.test"), "/");
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(20));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(chunked(b""), b"0\r\n\r\n");
        assert_eq!(chunked(b"abc"), b"3\r\nabc\r\n0\r\n\r\n");
    }
}

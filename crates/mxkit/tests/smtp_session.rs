//! SMTP sessions and the walk against in-process fake servers on
//! `127.0.0.1` ephemeral ports, scripted per test (docs/rules/route.md: the
//! failover table, Rules 22 to 26, cases 45 to 51).
//!
//! Candidates carry addresses `127.0.0.1x` that are never dialled:
//! `SmtpOptions::connect_to` maps each to its fake server. Certificates come
//! from rcgen (a test CA and leaves). Nothing leaves loopback; nothing sleeps:
//! the timeout cases use short stage timeouts against servers that stay silent.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mxkit::route::{Candidate, Route, RouteError, RouteKind, RouteVerdict};
use mxkit::smtp::{
    self, Attempt, AttemptOutcome, Direction, Message, Mode, Roots, SmtpOptions, Stage, TlsMode,
    Walk, WalkVerdict,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

// ---------------------------------------------------------------------------
// The fake server

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What the server does instead of (or as) its greeting.
#[derive(Clone)]
enum Greet {
    /// Send this reply (lines separated by CRLF).
    Text(&'static str),
    /// Say nothing, keep the connection open.
    Silent,
    /// Close at once.
    Close,
    /// Send these bytes, then close (`true`) or go on reading commands.
    Raw(&'static [u8], bool),
    /// `220 ` followed by an endless line.
    Endless,
    /// A reply of this many continuation lines (then a last line).
    Lines(usize),
}

/// What happens after the message has been received.
#[derive(Clone)]
enum Dot {
    Reply(&'static str),
    Silent,
    Close,
}

#[derive(Clone)]
enum TlsSide {
    Acceptor(TlsAcceptor),
    /// Answer the ClientHello with bytes that are not TLS.
    Garbage,
}

#[derive(Clone)]
struct Script {
    greet: Greet,
    ehlo: &'static str,
    ehlo_tls: &'static str,
    helo: &'static str,
    starttls: &'static str,
    tls: Option<TlsSide>,
    mail: &'static str,
    /// (substring of the RCPT line, reply); default 250.
    rcpt: Vec<(&'static str, &'static str)>,
    data: &'static str,
    dot: Dot,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            greet: Greet::Text("220 mx.example.test ESMTP fake"),
            ehlo: "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 SMTPUTF8",
            ehlo_tls: "250-mx.example.test\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 10240000",
            helo: "250 mx.example.test",
            starttls: "220 2.0.0 Ready to start TLS",
            tls: None,
            mail: "250 2.1.0 Ok",
            rcpt: Vec::new(),
            data: "354 End data with <CR><LF>.<CR><LF>",
            dot: Dot::Reply("250 2.0.0 Ok: queued as 4ABC123"),
        }
    }
}

impl Script {
    fn with_tls(tls: TlsSide) -> Self {
        Script {
            ehlo: "250-mx.example.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME",
            tls: Some(tls),
            ..Script::default()
        }
    }
}

#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    /// (connection number, command line).
    commands: Mutex<Vec<(usize, String)>>,
    /// Raw DATA payloads, as received (still dot-stuffed), without the final dot.
    messages: Mutex<Vec<Vec<u8>>>,
    /// SNI of each TLS handshake.
    sni: Mutex<Vec<Option<String>>>,
}

impl Seen {
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    fn commands(&self) -> Vec<String> {
        self.commands
            .lock()
            .unwrap()
            .iter()
            .map(|(_, c)| c.clone())
            .collect()
    }
    fn saw(&self, prefix: &str) -> bool {
        self.commands().iter().any(|c| c.starts_with(prefix))
    }
}

struct Fake {
    addr: SocketAddr,
    seen: Arc<Seen>,
}

async fn fake(script: Script) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = s.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, n, script.clone(), s.clone()));
        }
    });
    Fake { addr, seen }
}

/// A port where nothing listens: connection refused.
async fn refused_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

async fn send(io: &mut (impl AsyncWrite + Unpin + ?Sized), text: &str) -> std::io::Result<()> {
    let mut text = text.to_string();
    if !text.ends_with("\r\n") {
        text.push_str("\r\n");
    }
    io.write_all(text.as_bytes()).await?;
    io.flush().await
}

/// Read until the client closes.
async fn drain(io: &mut (impl AsyncRead + Unpin + ?Sized)) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = io.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

async fn serve(stream: TcpStream, n: usize, s: Script, seen: Arc<Seen>) {
    let mut io: Box<dyn Io> = Box::new(stream);
    if greet(&mut io, &s.greet).await.is_break() {
        return;
    }
    let mut r = BufReader::new(io);
    let mut in_tls = false;
    loop {
        let mut line = String::new();
        match r.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = line.trim_end().to_string();
        seen.commands.lock().unwrap().push((n, line.clone()));
        let verb = line
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &str = match verb.as_str() {
            "EHLO" if in_tls => s.ehlo_tls,
            "EHLO" => s.ehlo,
            "HELO" => s.helo,
            "MAIL" => s.mail,
            "RCPT" => s
                .rcpt
                .iter()
                .find(|(k, _)| line.contains(k))
                .map_or("250 2.1.5 Ok", |(_, v)| v),
            "RSET" => "250 2.0.0 Ok",
            "QUIT" => {
                let _ = send(r.get_mut(), "221 2.0.0 Bye").await;
                return;
            }
            "STARTTLS" => {
                if send(r.get_mut(), s.starttls).await.is_err() {
                    return;
                }
                if !s.starttls.starts_with("220") {
                    continue;
                }
                match handshake(r, s.tls.as_ref(), &seen).await {
                    Some(tls) => {
                        r = tls;
                        in_tls = true;
                    }
                    None => return,
                }
                continue;
            }
            "DATA" => {
                if send(r.get_mut(), s.data).await.is_err() {
                    return;
                }
                if !s.data.starts_with("354") {
                    continue;
                }
                let Some(body) = read_message(&mut r).await else {
                    return;
                };
                seen.messages.lock().unwrap().push(body);
                match s.dot {
                    Dot::Reply(t) => t,
                    Dot::Silent => return drain(&mut r).await,
                    Dot::Close => return,
                }
            }
            _ => "502 5.5.2 Error: command not recognized",
        };
        if send(r.get_mut(), reply).await.is_err() {
            return;
        }
    }
}

/// The greeting as scripted; breaks when the session ends there.
async fn greet(io: &mut Box<dyn Io>, greet: &Greet) -> ControlFlow<()> {
    match *greet {
        Greet::Text(t) => {
            if send(io, t).await.is_err() {
                return ControlFlow::Break(());
            }
        }
        Greet::Silent => {
            drain(io).await;
            return ControlFlow::Break(());
        }
        Greet::Close => return ControlFlow::Break(()),
        Greet::Raw(bytes, close) => {
            if io.write_all(bytes).await.is_err() || close {
                return ControlFlow::Break(());
            }
        }
        Greet::Endless => {
            let chunk = vec![b'a'; 8192];
            let _ = io.write_all(b"220 ").await;
            while io.write_all(&chunk).await.is_ok() {}
            return ControlFlow::Break(());
        }
        Greet::Lines(count) => {
            for _ in 0..count {
                if io.write_all(b"220-more text\r\n").await.is_err() {
                    return ControlFlow::Break(());
                }
            }
            let _ = send(io, "220 end").await;
        }
    }
    ControlFlow::Continue(())
}

/// The server's side of the TLS handshake after its 220 to STARTTLS, as
/// scripted; `None` when the session ends there.
async fn handshake(
    mut r: BufReader<Box<dyn Io>>,
    tls: Option<&TlsSide>,
    seen: &Seen,
) -> Option<BufReader<Box<dyn Io>>> {
    match tls {
        Some(TlsSide::Acceptor(acceptor)) => {
            let tls = acceptor.accept(r.into_inner()).await.ok()?;
            let sni = tls.get_ref().1.server_name().map(str::to_string);
            seen.sni.lock().unwrap().push(sni);
            Some(BufReader::new(Box::new(tls)))
        }
        Some(TlsSide::Garbage) => {
            let mut hello = [0u8; 64];
            let _ = r.read(&mut hello).await;
            let _ = r.get_mut().write_all(b"this is not TLS\r\n").await;
            None
        }
        None => None,
    }
}

/// The message after 354, up to the final dot (still dot-stuffed, without
/// the dot); `None` when the client closes first.
async fn read_message(r: &mut BufReader<Box<dyn Io>>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut l = Vec::new();
        match r.read_until(b'\n', &mut l).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        if l == b".\r\n" {
            return Some(body);
        }
        body.extend_from_slice(&l);
    }
}

// ---------------------------------------------------------------------------
// Routes, options, certificates

/// A deliverable route for example.test with one candidate per server,
/// `mx{i+1}.example.test` at preference 10*(i+1), address 127.0.0.(10+i)
/// mapped to the server by `connect_to`.
fn route_to(targets: &[SocketAddr]) -> (Route, SmtpOptions) {
    let mut opts = SmtpOptions::new("client.example.net", "example.test");
    let mut candidates = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let address = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + i as u8));
        candidates.push(Candidate {
            preference: 10 * (i as u16 + 1),
            exchanger: format!("mx{}.example.test", i + 1),
            address,
            canonical: None,
        });
        opts = opts.with_connect_to(address, *target);
    }
    let route = Route {
        domain: "example.test".into(),
        status: RouteVerdict::Deliverable,
        outcome: RouteKind::Mx,
        candidates,
        records: Vec::new(),
        exchangers: Vec::new(),
        cname_chain: Vec::new(),
        ttl: None,
        dnssec: None,
        mta_sts: None,
        tls_rpt: None,
        warnings: Vec::new(),
        error: None,
    };
    opts.tls = TlsMode::Off;
    (route, opts)
}

fn deliver_opts(opts: &mut SmtpOptions, to: &[&str]) {
    opts.mail_from = "sender@example.net".into();
    opts.rcpt_to = to.iter().map(|s| s.to_string()).collect();
}

fn message(opts: &SmtpOptions, body: &[u8]) -> Message {
    Message::prepare(body, &opts.mail_from, &opts.rcpt_to, Some("test")).unwrap()
}

/// One delivery along fake servers, for the assertions: the walk, the
/// servers in plan order and the message sent.
struct Delivered {
    walk: Walk,
    servers: Vec<Fake>,
    message: Message,
}

/// The recipient most deliveries go to.
const USER: &[&str] = &["user@example.test"];
/// The message most deliveries send.
const HI: &[u8] = b"hi\n";

/// Deliver `body` from `sender@example.net` to `to` along one fake server
/// per script, in plan order (`mx1.example.test`, `mx2.example.test`, ...),
/// with TLS off unless `tune` changes the options.
async fn deliver_along(
    scripts: Vec<Script>,
    to: &[&str],
    body: &[u8],
    tune: impl FnOnce(&mut SmtpOptions),
) -> Delivered {
    let mut servers = Vec::with_capacity(scripts.len());
    for script in scripts {
        servers.push(fake(script).await);
    }
    let targets: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let (route, mut opts) = route_to(&targets);
    deliver_opts(&mut opts, to);
    tune(&mut opts);
    let message = message(&opts, body);
    let walk = smtp::deliver(&route, &opts, &message).await;
    Delivered {
        walk,
        servers,
        message,
    }
}

/// The walk ended with `verdict` (its reason is shown when it did not).
#[track_caller]
fn ends(walk: &Walk, verdict: WalkVerdict) {
    assert_eq!(walk.verdict, verdict, "{}", walk.reason);
}

struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn pki() -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "mxkit test CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Pki {
        ca_pem: cert.pem(),
        ca_der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

impl Pki {
    /// A server configuration with a leaf for `names` (DNS SANs), chain leaf + CA.
    fn acceptor(&self, names: &[&str]) -> TlsAcceptor {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let leaf = params.signed_by(&key, &self.issuer).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), self.ca_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }

    /// The CA as a PEM file.
    fn ca_file(&self, name: &str) -> PathBuf {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("smtp-ca-{}-{name}.pem", std::process::id()));
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }
}

fn soft(a: &Attempt) -> Option<(Stage, &str)> {
    match &a.outcome {
        AttemptOutcome::Soft { stage, reason } => Some((*stage, reason.as_str())),
        _ => None,
    }
}

fn hard(a: &Attempt) -> Option<(Stage, &str)> {
    match &a.outcome {
        AttemptOutcome::Hard { stage, reason } => Some((*stage, reason.as_str())),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// STARTTLS and certificates

#[tokio::test]
async fn rfc3207_4_2_trusted_starttls_then_ehlo_again() {
    let pki = pki();
    let server = fake(Script::with_tls(TlsSide::Acceptor(
        pki.acceptor(&["mx1.example.test"]),
    )))
    .await;
    let (route, mut opts) = route_to(&[server.addr]);
    opts.tls = TlsMode::Opportunistic;
    opts.roots = Roots::PemFile(pki.ca_file("trusted"));
    opts.stop_after = Stage::Starttls;

    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Reached, "{}", walk.reason);
    let a = &walk.attempts[0];
    assert_eq!(
        a.outcome,
        AttemptOutcome::Reached {
            stage: Stage::Starttls
        }
    );
    let tls = a.tls.as_ref().expect("TLS report");
    assert!(tls.completed);
    assert!(tls.chain_trusted, "{:?}", tls.chain_error);
    assert_eq!(tls.chain_error, None);
    assert!(tls.mx_name_matches);
    // The recipient domain example.test is not in the certificate: reported apart.
    assert!(!tls.domain_name_matches);
    assert!(tls.version.starts_with("TLSv1."), "{}", tls.version);
    assert!(!tls.cipher.is_empty());
    assert_eq!(tls.sni.as_deref(), Some("mx1.example.test"));
    let cert = tls.certificate.as_ref().unwrap();
    assert!(
        cert.subject.contains("mx1.example.test"),
        "{}",
        cert.subject
    );
    assert!(cert.issuer.contains("mxkit test CA"), "{}", cert.issuer);
    assert_eq!(cert.sans, vec!["mx1.example.test"]);
    assert_eq!(cert.sha256.len(), 64);
    assert!(cert.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(cert.not_before < cert.not_after);
    assert_eq!(
        server.seen.sni.lock().unwrap().clone(),
        vec![Some("mx1.example.test".to_string())]
    );
    // RFC 3207: capabilities are forgotten and EHLO sent again inside TLS.
    assert!(a.capabilities.contains(&"AUTH".to_string()));
    assert!(!a.capabilities.contains(&"STARTTLS".to_string()));
    let ehlos: Vec<_> = a
        .transcript
        .iter()
        .filter(|e| e.direction == Direction::Sent && e.line.starts_with("EHLO"))
        .collect();
    assert_eq!(ehlos.len(), 2);
    assert!(!ehlos[0].tls && ehlos[1].tls);
    assert!(
        a.transcript
            .iter()
            .any(|e| e.tls && e.line.starts_with("QUIT"))
    );
    assert!(!a.plaintext_fallback);
}

#[tokio::test]
async fn rfc7435_opportunistic_tls_reports_an_untrusted_chain_and_goes_on() {
    let pki = pki();
    let server = fake(Script::with_tls(TlsSide::Acceptor(
        pki.acceptor(&["mx1.example.test"]),
    )))
    .await;
    let (route, mut opts) = route_to(&[server.addr]);
    opts.tls = TlsMode::Opportunistic;
    opts.roots = Roots::WebPki;
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Reached, "{}", walk.reason);
    let tls = walk.attempts[0].tls.as_ref().unwrap();
    assert!(tls.completed);
    assert!(!tls.chain_trusted);
    assert!(
        tls.chain_error
            .as_deref()
            .unwrap()
            .contains("UnknownIssuer")
    );
    assert!(tls.mx_name_matches);
}

#[tokio::test]
async fn rfc7672_3_2_2_mx_name_and_domain_name_are_matched_separately() {
    let pki = pki();
    // Names the recipient domain, not the MX host.
    let server = fake(Script::with_tls(TlsSide::Acceptor(
        pki.acceptor(&["mail.other.test", "example.test"]),
    )))
    .await;
    let (route, mut opts) = route_to(&[server.addr]);
    opts.tls = TlsMode::Opportunistic;
    opts.roots = Roots::PemFile(pki.ca_file("names"));
    let walk = smtp::probe(&route, &opts).await;
    let tls = walk.attempts[0].tls.as_ref().unwrap();
    assert!(tls.chain_trusted, "{:?}", tls.chain_error);
    assert!(!tls.mx_name_matches);
    assert!(tls.domain_name_matches);

    // A one-label wildcard covers the MX host.
    let server = fake(Script::with_tls(TlsSide::Acceptor(
        pki.acceptor(&["*.example.test"]),
    )))
    .await;
    let (route, mut opts) = route_to(&[server.addr]);
    opts.tls = TlsMode::Opportunistic;
    opts.roots = Roots::PemFile(pki.ca_file("wild"));
    let walk = smtp::probe(&route, &opts).await;
    let tls = walk.attempts[0].tls.as_ref().unwrap();
    assert!(tls.mx_name_matches);
    assert!(!tls.domain_name_matches);
}

#[tokio::test]
async fn rule22_required_tls_refuses_a_name_mismatch_and_moves_on() {
    let pki = pki();
    let wrong = fake(Script::with_tls(TlsSide::Acceptor(
        pki.acceptor(&["someone.else.test"]),
    )))
    .await;
    let good = fake(Script::with_tls(TlsSide::Acceptor(
        pki.acceptor(&["mx2.example.test"]),
    )))
    .await;
    let (route, mut opts) = route_to(&[wrong.addr, good.addr]);
    opts.tls = TlsMode::Required;
    opts.roots = Roots::PemFile(pki.ca_file("required"));
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Reached, "{}", walk.reason);
    let first = &walk.attempts[0];
    assert_eq!(soft(first).unwrap().0, Stage::Starttls);
    assert!(!first.plaintext_fallback);
    assert!(first.next.is_some());
    let report = first.tls.as_ref().unwrap();
    assert!(!report.completed && report.chain_trusted && !report.mx_name_matches);
    assert_eq!(
        wrong.seen.connections(),
        1,
        "required TLS never retries in clear"
    );
    assert!(walk.attempts[1].tls.as_ref().unwrap().mx_name_matches);
}

#[tokio::test]
async fn rule22_required_tls_untrusted_or_not_offered_is_temporary() {
    let pki = pki();
    let untrusted = fake(Script::with_tls(TlsSide::Acceptor(
        pki.acceptor(&["mx1.example.test"]),
    )))
    .await;
    let plain = fake(Script::default()).await;
    let (route, mut opts) = route_to(&[untrusted.addr, plain.addr]);
    opts.tls = TlsMode::Required;
    opts.roots = Roots::WebPki;
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Temporary, "{}", walk.reason);
    assert_eq!(soft(&walk.attempts[0]).unwrap().0, Stage::Starttls);
    let (stage, reason) = soft(&walk.attempts[1]).unwrap();
    assert_eq!(stage, Stage::Starttls);
    assert!(reason.contains("does not offer"), "{reason}");
    assert!(plain.seen.saw("QUIT"));
    assert!(!plain.seen.saw("STARTTLS"));
}

#[tokio::test]
async fn required_tls_is_checked_whatever_the_stop_stage() {
    for stop in [Stage::Connect, Stage::Greeting, Stage::Ehlo] {
        let plain = fake(Script::default()).await;
        let (route, mut opts) = route_to(&[plain.addr]);
        opts.tls = TlsMode::Required;
        opts.stop_after = stop;
        assert_eq!(opts.probe_stop(), Stage::Starttls);
        let walk = smtp::probe(&route, &opts).await;
        assert_eq!(
            walk.verdict,
            WalkVerdict::Temporary,
            "{stop}: {}",
            walk.reason
        );
        let (stage, reason) = soft(&walk.attempts[0]).unwrap();
        assert_eq!(stage, Stage::Starttls, "{stop}");
        assert!(reason.contains("does not offer"), "{stop}: {reason}");
    }
}

#[tokio::test]
async fn rule22_opportunistic_handshake_failure_retries_same_address_in_plaintext() {
    let server = fake(Script::with_tls(TlsSide::Garbage)).await;
    let (route, mut opts) = route_to(&[server.addr]);
    opts.tls = TlsMode::Opportunistic;
    opts.stop_after = Stage::Starttls;
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Reached, "{}", walk.reason);
    assert_eq!(walk.attempts.len(), 1);
    let a = &walk.attempts[0];
    assert!(a.plaintext_fallback);
    assert_eq!(a.outcome, AttemptOutcome::Reached { stage: Stage::Ehlo });
    assert_eq!(server.seen.connections(), 2);
    let commands = server.seen.commands.lock().unwrap().clone();
    assert!(commands.iter().any(|(n, c)| *n == 0 && c == "STARTTLS"));
    assert!(!commands.iter().any(|(n, c)| *n == 1 && c == "STARTTLS"));
    assert!(a.tls.as_ref().is_some_and(|t| !t.completed));
    assert!(
        a.transcript
            .iter()
            .any(|e| e.direction == Direction::Info && e.line.contains("plaintext"))
    );
}

#[tokio::test]
async fn rfc3207_deliver_over_tls() {
    let pki = pki();
    let ca = pki.ca_file("deliver");
    let scripts = vec![Script::with_tls(TlsSide::Acceptor(
        pki.acceptor(&["mx1.example.test"]),
    ))];
    let d = deliver_along(
        scripts,
        &["user@example.test"],
        b"Hello over TLS\n.\n",
        |o| {
            o.tls = TlsMode::Required;
            o.roots = Roots::PemFile(ca);
        },
    )
    .await;
    ends(&d.walk, WalkVerdict::Accepted);
    let body = d.servers[0].seen.messages.lock().unwrap()[0].clone();
    assert!(body.ends_with(b"Hello over TLS\r\n..\r\n"));
}

// ---------------------------------------------------------------------------
// EHLO

#[tokio::test]
async fn rfc5321_3_2_ehlo_502_falls_back_to_helo() {
    let server = fake(Script {
        ehlo: "502 5.5.2 Error: command not recognized",
        ..Script::default()
    })
    .await;
    let (route, mut opts) = route_to(&[server.addr]);
    opts.stop_after = Stage::Mail;
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Reached, "{}", walk.reason);
    let cmds = server.seen.commands();
    assert_eq!(
        &cmds[..3],
        [
            "EHLO client.example.net",
            "HELO client.example.net",
            "MAIL FROM:<>"
        ]
    );
    assert_eq!(server.seen.connections(), 1);
    assert!(walk.attempts[0].capabilities.is_empty());
}

#[tokio::test]
async fn rule22_rule26_ehlo_421_or_450_moves_on_ehlo_550_everywhere_is_permanent() {
    let busy = fake(Script {
        ehlo: "421 4.3.2 Service shutting down",
        ..Script::default()
    })
    .await;
    let later = fake(Script {
        ehlo: "450 4.7.1 later",
        ..Script::default()
    })
    .await;
    let ok = fake(Script::default()).await;
    let (route, mut opts) = route_to(&[busy.addr, later.addr, ok.addr]);
    opts.stop_after = Stage::Ehlo;
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Reached, "{}", walk.reason);
    assert_eq!(soft(&walk.attempts[0]).unwrap().0, Stage::Ehlo);
    assert_eq!(soft(&walk.attempts[1]).unwrap().0, Stage::Ehlo);

    let no = fake(Script {
        ehlo: "550 5.7.1 go away",
        ..Script::default()
    })
    .await;
    let (route, mut opts) = route_to(&[no.addr, no.addr]);
    opts.stop_after = Stage::Ehlo;
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.attempts.len(), 2);
    assert_eq!(hard(&walk.attempts[0]).unwrap().0, Stage::Ehlo);
    assert_eq!(walk.verdict, WalkVerdict::Permanent, "{}", walk.reason);
}

// ---------------------------------------------------------------------------
// The walk, the failover table (docs/rules/route.md) row by row

#[tokio::test]
async fn rule22_connect_refused_moves_on() {
    // case 45
    let dead = refused_port().await;
    let ok = fake(Script::default()).await;
    let (route, opts) = route_to(&[dead, ok.addr]);
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Reached, "{}", walk.reason);
    let (stage, reason) = soft(&walk.attempts[0]).unwrap();
    assert_eq!(stage, Stage::Connect);
    assert!(reason.contains("refused"), "{reason}");
    assert!(walk.attempts[0].next.is_some());
    assert_eq!(walk.attempts[1].next, None);
}

#[tokio::test]
async fn rule22_greeting_421_450_timeout_eof_move_on() {
    // case 46
    let g421 = fake(Script {
        greet: Greet::Text("421 4.3.2 Try again later"),
        ..Script::default()
    })
    .await;
    let g450 = fake(Script {
        greet: Greet::Text("450 4.7.1 busy"),
        ..Script::default()
    })
    .await;
    let silent = fake(Script {
        greet: Greet::Silent,
        ..Script::default()
    })
    .await;
    let eof = fake(Script {
        greet: Greet::Close,
        ..Script::default()
    })
    .await;
    let ok = fake(Script::default()).await;
    let (route, mut opts) = route_to(&[g421.addr, g450.addr, silent.addr, eof.addr, ok.addr]);
    opts.timeouts.greeting = Duration::from_millis(300);
    opts.stop_after = Stage::Greeting;
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Reached, "{}", walk.reason);
    assert_eq!(walk.attempts.len(), 5);
    for a in &walk.attempts[..4] {
        assert_eq!(soft(a).unwrap().0, Stage::Greeting, "{:?}", a.outcome);
        assert!(a.next.is_some());
    }
    assert!(soft(&walk.attempts[2]).unwrap().1.contains("timed out"));
    assert!(soft(&walk.attempts[3]).unwrap().1.contains("closed"));
    // No QUIT after a timeout; QUIT after a reply.
    assert!(!silent.seen.saw("QUIT"));
    assert!(g450.seen.saw("QUIT"));
    assert!(
        !walk.attempts[2]
            .stages
            .iter()
            .any(|s| s.stage == Stage::Quit)
    );
}

#[tokio::test]
async fn rule23_greeting_554_on_the_only_mx_is_temporary() {
    // case 47
    let server = fake(Script {
        greet: Greet::Text("554 5.7.1 No SMTP service here"),
        ..Script::default()
    })
    .await;
    let (route, opts) = route_to(&[server.addr]);
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Temporary, "{}", walk.reason);
    assert_eq!(hard(&walk.attempts[0]).unwrap().0, Stage::Greeting);
    // RFC 5321 section 3.1: wait for QUIT.
    assert!(server.seen.saw("QUIT"));
}

#[tokio::test]
async fn rule23_greeting_554_then_next_mx_reached() {
    let no = fake(Script {
        greet: Greet::Text("554 5.7.1 No SMTP service here"),
        ..Script::default()
    })
    .await;
    let ok = fake(Script::default()).await;
    let (route, opts) = route_to(&[no.addr, ok.addr]);
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Reached, "{}", walk.reason);
    assert!(
        walk.attempts[0]
            .next
            .as_deref()
            .unwrap()
            .contains("5xx greeting")
    );
}

#[tokio::test]
async fn rule26_last_error_does_not_decide() {
    // case 51: a soft failure first, a permanent-looking one last.
    let dead = refused_port().await;
    let no = fake(Script {
        ehlo: "550 5.7.1 go away",
        ..Script::default()
    })
    .await;
    let (route, opts) = route_to(&[dead, no.addr]);
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Temporary, "{}", walk.reason);
    assert!(walk.reason.contains("mx1.example.test"), "{}", walk.reason);
}

#[tokio::test]
async fn rule22_rule24_mail_451_moves_on_mail_550_is_final() {
    let later = Script {
        mail: "451 4.3.0 try later",
        ..Script::default()
    };
    let d = deliver_along(vec![later, Script::default()], USER, HI, |_| {}).await;
    ends(&d.walk, WalkVerdict::Accepted);
    assert_eq!(soft(&d.walk.attempts[0]).unwrap().0, Stage::Mail);

    let no = Script {
        mail: "550 5.7.1 sender refused",
        ..Script::default()
    };
    let d = deliver_along(vec![no, Script::default()], USER, HI, |_| {}).await;
    ends(&d.walk, WalkVerdict::Permanent);
    assert_eq!(d.walk.attempts.len(), 1);
    assert_eq!(d.servers[1].seen.connections(), 0);
    assert_eq!(d.walk.recipients[0].verdict, WalkVerdict::Permanent);
    assert_eq!(d.walk.recipients[0].reply.as_ref().unwrap().code, 550);
}

#[tokio::test]
async fn rule22_rcpt_450_on_mx1_then_accepted_on_mx2() {
    // case 48
    let greylisting = Script {
        rcpt: vec![("user@", "450 4.2.0 greylisted")],
        ..Script::default()
    };
    let d = deliver_along(vec![greylisting, Script::default()], USER, HI, |_| {}).await;
    let (walk, mx1, mx2) = (&d.walk, &d.servers[0], &d.servers[1]);
    ends(walk, WalkVerdict::Accepted);
    assert_eq!(soft(&walk.attempts[0]).unwrap().0, Stage::Rcpt);
    assert!(!mx1.seen.saw("DATA"));
    assert_eq!(mx2.seen.messages.lock().unwrap().len(), 1);
    assert_eq!(walk.recipients[0].verdict, WalkVerdict::Accepted);
    match &walk.attempts[1].outcome {
        AttemptOutcome::Accepted { queue_id, reply } => {
            assert_eq!(queue_id.as_deref(), Some("4ABC123"));
            assert_eq!(reply.code, 250);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rule22_rcpt_450_for_one_recipient_only_that_one_goes_to_mx2() {
    let greylisting = Script {
        rcpt: vec![("later@", "450 4.2.0 greylisted")],
        ..Script::default()
    };
    let to = ["now@example.test", "later@example.test"];
    let d = deliver_along(vec![greylisting, Script::default()], &to, HI, |_| {}).await;
    let (walk, mx1, mx2) = (&d.walk, &d.servers[0], &d.servers[1]);
    ends(walk, WalkVerdict::Accepted);
    assert_eq!(mx1.seen.messages.lock().unwrap().len(), 1);
    assert_eq!(mx2.seen.messages.lock().unwrap().len(), 1);
    let mx2_rcpts: Vec<String> = mx2
        .seen
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("RCPT"))
        .collect();
    assert_eq!(mx2_rcpts, vec!["RCPT TO:<later@example.test>"]);
    assert!(
        walk.attempts[0]
            .next
            .as_deref()
            .unwrap()
            .contains("deferred")
    );
}

#[tokio::test]
async fn rule24_rcpt_550_is_final_for_that_recipient() {
    // case 49
    let unknown = || Script {
        rcpt: vec![("gone@", "550 5.1.1 User unknown")],
        ..Script::default()
    };
    let to = ["gone@example.test"];
    let d = deliver_along(vec![unknown(), Script::default()], &to, HI, |_| {}).await;
    let (walk, mx1, mx2) = (&d.walk, &d.servers[0], &d.servers[1]);
    ends(walk, WalkVerdict::Permanent);
    assert_eq!(hard(&walk.attempts[0]).unwrap().0, Stage::Rcpt);
    assert_eq!(mx2.seen.connections(), 0);
    assert!(!mx1.seen.saw("DATA"));

    // Others carry on: one refused, one accepted, no next MX.
    let to = ["gone@example.test", "here@example.test"];
    let d = deliver_along(vec![unknown(), Script::default()], &to, HI, |_| {}).await;
    let walk = &d.walk;
    assert_eq!(walk.attempts.len(), 1);
    assert_eq!(walk.recipients[0].verdict, WalkVerdict::Permanent);
    assert_eq!(walk.recipients[1].verdict, WalkVerdict::Accepted);
    ends(walk, WalkVerdict::Permanent);
    assert!(walk.reason.contains("1 of 2"), "{}", walk.reason);
    assert_eq!(d.servers[1].seen.connections(), 0);
}

#[tokio::test]
async fn rfc5321_3_8_rcpt_421_moves_on_with_the_recipient() {
    let closing = Script {
        rcpt: vec![("user@", "421 4.3.2 closing")],
        ..Script::default()
    };
    let d = deliver_along(vec![closing, Script::default()], USER, HI, |_| {}).await;
    ends(&d.walk, WalkVerdict::Accepted);
    assert_eq!(soft(&d.walk.attempts[0]).unwrap().0, Stage::Rcpt);
}

#[tokio::test]
async fn probe_stop_after_rcpt_never_sends_data() {
    let mx1 = fake(Script::default()).await;
    let (route, mut opts) = route_to(&[mx1.addr]);
    opts.stop_after = Stage::Rcpt;
    opts.rcpt_to = vec!["user@example.test".into()];
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Reached, "{}", walk.reason);
    assert_eq!(walk.recipients[0].verdict, WalkVerdict::Reached);
    let cmds = mx1.seen.commands();
    assert!(cmds.contains(&"RCPT TO:<user@example.test>".to_string()));
    assert!(!mx1.seen.saw("DATA"));
    assert_eq!(cmds.last().unwrap(), "QUIT");
}

#[tokio::test]
async fn rule22_rule24_data_451_moves_on_data_554_is_final() {
    let later = Script {
        data: "451 4.3.0 not now",
        ..Script::default()
    };
    let d = deliver_along(vec![later, Script::default()], USER, HI, |_| {}).await;
    ends(&d.walk, WalkVerdict::Accepted);
    assert_eq!(soft(&d.walk.attempts[0]).unwrap().0, Stage::Data);

    let no = Script {
        data: "554 5.5.1 no valid recipients",
        ..Script::default()
    };
    let d = deliver_along(vec![no, Script::default()], USER, HI, |_| {}).await;
    ends(&d.walk, WalkVerdict::Permanent);
    assert_eq!(d.servers[1].seen.connections(), 0);
}

#[tokio::test]
async fn rule25_after_the_dot_4xx_defers_5xx_bounces_neither_resends() {
    for (reply, verdict) in [
        ("451 4.3.0 queue trouble", WalkVerdict::Temporary),
        ("554 5.6.0 content refused", WalkVerdict::Permanent),
    ] {
        let mx1 = Script {
            dot: Dot::Reply(reply),
            ..Script::default()
        };
        let d = deliver_along(vec![mx1, Script::default()], USER, HI, |_| {}).await;
        ends(&d.walk, verdict);
        assert_eq!(d.walk.attempts[0].outcome.stage(), Stage::Dot);
        assert_eq!(d.servers[1].seen.connections(), 0);
    }
}

#[tokio::test]
async fn rule25_timeout_after_the_dot_is_temporary_and_never_resent() {
    // case 50
    let silent = Script {
        dot: Dot::Silent,
        ..Script::default()
    };
    let d = deliver_along(vec![silent, Script::default()], USER, HI, |o| {
        o.timeouts.data_done = Duration::from_millis(300);
    })
    .await;
    let (walk, mx1, mx2) = (&d.walk, &d.servers[0], &d.servers[1]);
    ends(walk, WalkVerdict::Temporary);
    let (stage, reason) = soft(&walk.attempts[0]).unwrap();
    assert_eq!(stage, Stage::Dot);
    assert!(reason.contains("timed out"), "{reason}");
    assert_eq!(walk.attempts.len(), 1);
    assert_eq!(
        mx2.seen.connections(),
        0,
        "the second server got a connection"
    );
    assert!(
        walk.reason.contains("not sent elsewhere"),
        "{}",
        walk.reason
    );
    assert_eq!(walk.recipients[0].verdict, WalkVerdict::Temporary);
    assert!(!mx1.seen.saw("QUIT"));
}

#[tokio::test]
async fn rule25_connection_lost_after_the_dot_is_temporary_and_never_resent() {
    let closing = Script {
        dot: Dot::Close,
        ..Script::default()
    };
    let d = deliver_along(vec![closing, Script::default()], USER, HI, |_| {}).await;
    ends(&d.walk, WalkVerdict::Temporary);
    assert_eq!(soft(&d.walk.attempts[0]).unwrap().0, Stage::Dot);
    assert_eq!(d.servers[1].seen.connections(), 0);
}

#[tokio::test]
async fn rfc1870_6_message_larger_than_size_is_refused_before_mail() {
    let small = Script {
        ehlo: "250-mx.example.test\r\n250 SIZE 100",
        ..Script::default()
    };
    let d = deliver_along(vec![small], USER, &[b'x'; 500], |_| {}).await;
    let server = &d.servers[0];
    ends(&d.walk, WalkVerdict::Permanent);
    assert_eq!(hard(&d.walk.attempts[0]).unwrap().0, Stage::Mail);
    assert!(!server.seen.saw("MAIL"));
    assert!(server.seen.saw("QUIT"));
}

#[tokio::test]
async fn rfc1870_size_and_rfc6152_body_parameters_are_announced() {
    let d = deliver_along(vec![Script::default()], USER, "Grüße\n".as_bytes(), |_| {}).await;
    ends(&d.walk, WalkVerdict::Accepted);
    let mail = d.servers[0]
        .seen
        .commands()
        .into_iter()
        .find(|c| c.starts_with("MAIL"))
        .unwrap();
    assert_eq!(
        mail,
        format!(
            "MAIL FROM:<sender@example.net> SIZE={} BODY=8BITMIME",
            d.message.len()
        )
    );
}

// ---------------------------------------------------------------------------
// Hostile or broken servers: soft, with a reason, within the deadline

async fn greeting_failure(greet: Greet) -> (Stage, String, Duration) {
    let server = fake(Script {
        greet,
        ..Script::default()
    })
    .await;
    let (route, mut opts) = route_to(&[server.addr]);
    opts.timeouts.greeting = Duration::from_millis(500);
    opts.timeouts.quit = Duration::from_millis(500);
    let start = Instant::now();
    let walk = smtp::probe(&route, &opts).await;
    let took = start.elapsed();
    assert_eq!(walk.verdict, WalkVerdict::Temporary, "{}", walk.reason);
    let (stage, reason) = soft(&walk.attempts[0]).expect("soft");
    (stage, reason.to_string(), took)
}

#[tokio::test]
async fn rfc5321_4_5_3_1_5_endless_line_is_a_protocol_error() {
    let (stage, reason, took) = greeting_failure(Greet::Endless).await;
    assert_eq!(stage, Stage::Greeting);
    assert!(reason.contains("longer than 4096"), "{reason}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn rfc5321_4_2_ten_thousand_line_reply_is_a_protocol_error() {
    let (stage, reason, took) = greeting_failure(Greet::Lines(10_000)).await;
    assert_eq!(stage, Stage::Greeting);
    assert!(reason.contains("more than 100 lines"), "{reason}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn rfc5321_4_2_garbage_is_a_protocol_error() {
    let (stage, reason, _) =
        greeting_failure(Greet::Raw(b"HTTP/1.1 400 Bad Request\r\n\r\n", false)).await;
    assert_eq!(stage, Stage::Greeting);
    assert!(reason.contains("protocol error"), "{reason}");
}

#[tokio::test]
async fn rfc5321_4_5_3_2_silence_times_out() {
    let (stage, reason, took) = greeting_failure(Greet::Silent).await;
    assert_eq!(stage, Stage::Greeting);
    assert!(reason.contains("timed out after 0.5s"), "{reason}");
    assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(5));
}

#[tokio::test]
async fn rule22_close_mid_reply_moves_on() {
    let (stage, reason, _) = greeting_failure(Greet::Raw(b"220-first line\r\n", true)).await;
    assert_eq!(stage, Stage::Greeting);
    assert!(reason.contains("middle of a reply"), "{reason}");
}

#[tokio::test]
async fn overall_deadline_stops_the_walk() {
    let a = fake(Script {
        greet: Greet::Silent,
        ..Script::default()
    })
    .await;
    let b = fake(Script {
        greet: Greet::Silent,
        ..Script::default()
    })
    .await;
    let c = fake(Script::default()).await;
    let (route, mut opts) = route_to(&[a.addr, b.addr, c.addr]);
    opts.timeouts.overall = Duration::from_millis(400);
    let start = Instant::now();
    let walk = smtp::probe(&route, &opts).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(walk.verdict, WalkVerdict::Temporary, "{}", walk.reason);
    assert_eq!(c.seen.connections(), 0);
    let last = walk.attempts.last().unwrap();
    assert!(soft(last).unwrap().1.contains("overall deadline"));
    assert!(walk.reason.contains("deadline"), "{}", walk.reason);
}

// ---------------------------------------------------------------------------
// Input refused before anything is sent

#[tokio::test]
async fn rfc5321_4_1_2_crlf_in_an_address_is_refused_before_connecting() {
    let server = fake(Script::default()).await;
    let (route, mut opts) = route_to(&[server.addr]);
    deliver_opts(
        &mut opts,
        &["user@example.test>\r\nRCPT TO:<other@example.test"],
    );
    let msg = Message::prepare(b"hi\n", "sender@example.net", &[], None).unwrap();
    let walk = smtp::deliver(&route, &opts, &msg).await;
    assert_eq!(walk.verdict, WalkVerdict::Permanent);
    assert!(walk.attempts.is_empty());
    assert!(walk.reason.contains("CR, LF"), "{}", walk.reason);

    opts.rcpt_to = vec!["user@example.test".into()];
    opts.mail_from = "a@b.test\nDATA".into();
    opts.stop_after = Stage::Mail;
    let walk = smtp::probe(&route, &opts).await;
    assert!(walk.attempts.is_empty());
    assert_eq!(server.seen.connections(), 0);
}

#[test]
fn rfc5321_4_1_2_validate_address_cases() {
    for good in [
        "user@example.test",
        "first.last+tag@example.test",
        "\"with space\"@example.test",
        "user@[192.0.2.1]",
        "jörg@bücher.example",
    ] {
        assert!(smtp::validate_address(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "user@example.test\r\n",
        "user\n@example.test",
        "us\0er@example.test",
        "<user@example.test>",
        "user@example.test>",
        "us er@example.test",
        " user@example.test",
        "example.test",
        "user@",
        "user@exa mple.test",
    ] {
        let e = smtp::validate_address(bad).unwrap_err();
        assert!(!e.is_soft(), "{bad:?}");
    }
}

#[tokio::test]
async fn route_without_candidates_gives_its_verdict() {
    let (mut route, opts) = route_to(&[]);
    route.status = RouteVerdict::Permanent;
    route.outcome = RouteKind::NullMx;
    route.error = Some(RouteError {
        code: "null_mx",
        dsn: "5.1.10",
        message: "example.test accepts no mail (null MX)".into(),
    });
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Permanent);
    assert!(walk.attempts.is_empty());
    assert!(walk.reason.contains("5.1.10"));
    route.status = RouteVerdict::Temporary;
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Temporary);
    assert!(smtp::probe_all(&route, &opts).await.is_empty());
}

// ---------------------------------------------------------------------------
// Messages on the wire

#[tokio::test]
async fn rfc5321_4_5_2_message_is_normalised_and_dot_stuffed_on_the_wire() {
    let raw = b"first line\n.hidden line\n..two dots\nbare CR\rend\n.\nlast";
    let d = deliver_along(vec![Script::default()], USER, raw, |_| {}).await;
    let (walk, msg) = (&d.walk, &d.message);
    ends(walk, WalkVerdict::Accepted);
    let body = d.servers[0].seen.messages.lock().unwrap()[0].clone();
    let text = String::from_utf8(body).unwrap();
    // Headers added for a message without any.
    for field in [
        "Date: ",
        "Message-ID: <",
        "From: sender@example.net",
        "To: user@example.test",
        "Subject: test",
    ] {
        assert!(
            text.contains(&format!("\r\n{field}")) || text.starts_with(field),
            "{field}: {text}"
        );
    }
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    assert_eq!(
        body,
        "first line\r\n..hidden line\r\n...two dots\r\nbare CR\r\nend\r\n..\r\nlast\r\n"
    );
    assert!(!text.replace("\r\n", "").contains(['\r', '\n']));
    let id = msg.message_id().unwrap();
    assert!(text.contains(&format!("Message-ID: {id}\r\n")));
    let sent = walk.attempts[0]
        .transcript
        .iter()
        .filter(|e| e.direction == Direction::Sent)
        .map(|e| e.line.as_str())
        .collect::<Vec<_>>();
    assert!(sent.contains(&"DATA") && sent.contains(&"."));
}

// ---------------------------------------------------------------------------
// probe_all and attempt_on

#[tokio::test]
async fn probe_all_tries_every_candidate_concurrently() {
    let dead = refused_port().await;
    let ok = fake(Script::default()).await;
    let busy = fake(Script {
        greet: Greet::Text("421 4.3.2 busy"),
        ..Script::default()
    })
    .await;
    let silent = fake(Script {
        greet: Greet::Silent,
        ..Script::default()
    })
    .await;
    let (route, mut opts) = route_to(&[dead, ok.addr, busy.addr, silent.addr]);
    opts.timeouts.greeting = Duration::from_millis(300);
    opts.stop_after = Stage::Ehlo;
    let attempts = smtp::probe_all(&route, &opts).await;
    assert_eq!(attempts.len(), 4);
    assert_eq!(soft(&attempts[0]).unwrap().0, Stage::Connect);
    assert_eq!(
        attempts[1].outcome,
        AttemptOutcome::Reached { stage: Stage::Ehlo }
    );
    assert_eq!(soft(&attempts[2]).unwrap().0, Stage::Greeting);
    assert!(soft(&attempts[3]).unwrap().1.contains("timed out"));
    assert_eq!(attempts[1].candidate.exchanger, "mx2.example.test");
    assert!(attempts.iter().all(|a| a.next.is_none()));
}

#[tokio::test]
async fn attempt_on_any_stream() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    // The scripted server over an in-memory pipe.
    let task = tokio::spawn(async move {
        let (r, mut w) = tokio::io::split(server);
        let mut r = BufReader::new(r);
        send(&mut w, "220 pipe ESMTP").await.unwrap();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                break;
            }
            s.commands.lock().unwrap().push((0, line.trim_end().into()));
            let reply = if line.starts_with("EHLO") {
                "250-pipe\r\n250 8BITMIME"
            } else if line.starts_with("QUIT") {
                let _ = send(&mut w, "221 bye").await;
                break;
            } else {
                "250 ok"
            };
            send(&mut w, reply).await.unwrap();
        }
    });
    let candidate = Candidate {
        preference: 0,
        exchanger: "pipe.example.test".into(),
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        canonical: None,
    };
    let mut opts = SmtpOptions::new("client.example.net", "example.test");
    opts.stop_after = Stage::Mail;
    let a = smtp::attempt_on(client, &candidate, &opts, Mode::Probe).await;
    task.await.unwrap();
    assert_eq!(a.outcome, AttemptOutcome::Reached { stage: Stage::Mail });
    assert_eq!(a.capabilities, vec!["8BITMIME"]);
    assert_eq!(
        seen.commands(),
        vec!["EHLO client.example.net", "MAIL FROM:<>", "QUIT"]
    );
    let stages: Vec<Stage> = a.stages.iter().map(|s| s.stage).collect();
    assert_eq!(
        stages,
        vec![
            Stage::Connect,
            Stage::Greeting,
            Stage::Ehlo,
            Stage::Mail,
            Stage::Quit
        ]
    );
    // Timestamps never go backwards; directions are labelled.
    assert!(a.transcript.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    assert!(
        a.transcript
            .iter()
            .any(|e| e.direction == Direction::Received && e.line == "220 pipe ESMTP")
    );
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["outcome"]["result"], "reached");
    assert_eq!(json["outcome"]["stage"], "mail");
    assert_eq!(json["stages"][1]["reply"]["code"], 220);
}

#[test]
fn stage_names_parse() {
    for (text, stage) in [
        ("connect", Stage::Connect),
        ("greeting", Stage::Greeting),
        ("EHLO", Stage::Ehlo),
        ("starttls", Stage::Starttls),
        ("mail", Stage::Mail),
        ("rcpt", Stage::Rcpt),
    ] {
        assert_eq!(text.parse::<Stage>().unwrap(), stage);
    }
    assert!("data".parse::<Stage>().is_err());
    assert_eq!(serde_json::to_value(Stage::Starttls).unwrap(), "starttls");
}

// ---------------------------------------------------------------------------
// More rows: connect timeout, stop points, local problems, reply injection

/// A listener whose accept queue is full: later SYNs are dropped, so a connect
/// hangs until its timeout (Linux; testbed's `blackhole` does the same).
/// Filler connects fill the queue; each is bounded, none is awaited for
/// readiness.
async fn black_hole() -> (socket2::Socket, SocketAddr, Vec<TcpStream>) {
    use socket2::{Domain, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    (socket, addr, fillers)
}

#[tokio::test]
async fn rule22_connect_timeout_moves_on() {
    let (_hole, addr, _fillers) = black_hole().await;
    let ok = fake(Script::default()).await;
    let (route, mut opts) = route_to(&[addr, ok.addr]);
    opts.timeouts.connect = Duration::from_millis(300);
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Reached, "{}", walk.reason);
    let (stage, reason) = soft(&walk.attempts[0]).unwrap();
    assert_eq!(stage, Stage::Connect);
    assert!(reason.contains("timed out after 0.3s"), "{reason}");
}

#[tokio::test]
async fn stop_after_connect_and_greeting() {
    let server = fake(Script::default()).await;
    let (route, mut opts) = route_to(&[server.addr]);
    opts.stop_after = Stage::Connect;
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Reached);
    assert_eq!(
        walk.attempts[0].outcome,
        AttemptOutcome::Reached {
            stage: Stage::Connect
        }
    );
    opts.stop_after = Stage::Greeting;
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(
        walk.attempts[0].outcome,
        AttemptOutcome::Reached {
            stage: Stage::Greeting
        }
    );
    assert!(!server.seen.saw("EHLO"));
    assert!(server.seen.saw("QUIT"));
}

#[tokio::test]
async fn unusable_ca_file_is_reported_without_connecting() {
    let server = fake(Script::default()).await;
    let (route, mut opts) = route_to(&[server.addr]);
    opts.tls = TlsMode::Opportunistic;
    opts.roots = Roots::PemFile(PathBuf::from("/nonexistent/ca.pem"));
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Temporary);
    assert!(walk.attempts.is_empty());
    assert!(
        walk.reason.contains("/nonexistent/ca.pem"),
        "{}",
        walk.reason
    );
    assert_eq!(server.seen.connections(), 0);

    let empty = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("smtp-empty-{}.pem", std::process::id()));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let e = Roots::PemFile(empty).load().unwrap_err();
    assert!(e.to_string().contains("no certificate"), "{e}");
    assert!(!e.is_soft());
    assert!(Roots::WebPki.load().unwrap().len() > 50);
}

/// A CA file is read whole, so it has a limit: a huge file (here sparse,
/// one line of NULs) or a device is refused before it is read, naming the
/// limit or the reason.
#[test]
fn ca_files_are_bounded_and_regular() {
    let huge = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("smtp-huge-{}.pem", std::process::id()));
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(smtp::MAX_CA_FILE + 1)
        .unwrap();
    let e = Roots::PemFile(huge.clone()).load().unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot use CA file {}: exceeds the limit of {} bytes",
            huge.display(),
            smtp::MAX_CA_FILE
        )
    );
    std::fs::remove_file(&huge).unwrap();
    let e = Roots::PemFile("/dev/zero".into()).load().unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot use CA file /dev/zero: not a regular file"
    );
}

#[tokio::test]
async fn rfc3207_4_2_data_after_the_starttls_reply_is_refused() {
    let pki = pki();
    let server = fake(Script {
        starttls: "220 2.0.0 Ready\r\n250 injected before the handshake",
        ..Script::with_tls(TlsSide::Acceptor(pki.acceptor(&["mx1.example.test"])))
    })
    .await;
    let (route, mut opts) = route_to(&[server.addr]);
    opts.tls = TlsMode::Opportunistic;
    opts.roots = Roots::PemFile(pki.ca_file("inject"));
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Temporary, "{}", walk.reason);
    let (stage, reason) = soft(&walk.attempts[0]).unwrap();
    assert_eq!(stage, Stage::Starttls);
    assert!(reason.contains("injection"), "{reason}");
    assert!(server.seen.sni.lock().unwrap().is_empty());
}

#[tokio::test]
async fn probe_options_that_cannot_work_are_refused() {
    let server = fake(Script::default()).await;
    let (route, mut opts) = route_to(&[server.addr]);
    opts.stop_after = Stage::Rcpt;
    let walk = smtp::probe(&route, &opts).await;
    assert_eq!(walk.verdict, WalkVerdict::Permanent);
    assert!(walk.reason.contains("no recipient"), "{}", walk.reason);
    opts.stop_after = Stage::Data;
    let walk = smtp::probe(&route, &opts).await;
    assert!(walk.attempts.is_empty());
    opts.stop_after = Stage::Ehlo;
    opts.helo = "bad name\r\n".into();
    let attempts = smtp::probe_all(&route, &opts).await;
    assert_eq!(hard(&attempts[0]).unwrap().0, Stage::Ehlo);
    assert_eq!(server.seen.connections(), 0);
}

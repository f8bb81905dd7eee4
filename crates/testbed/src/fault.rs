//! A fault DNS server: answers tests' questions the way a real server will
//! not do on demand (silence, SERVFAIL, wrong IDs, wrong questions, garbage,
//! truncation, spoofed source addresses).
//!
//! Words:
//! - the **handler** is the test's function from a [`Request`] to a [`Reply`];
//!   it is called once per question received, over UDP or TCP;
//! - a **reply** is what the server does about one question: one or several
//!   datagrams (or TCP messages), nothing at all, or a hang-up;
//! - **poison** is the record ([`POISON`]) carried by every deliberately wrong
//!   reply ([`Reply::WrongId`], [`Reply::WrongQuestion`]), so that a test can
//!   assert it was never used.
//!
//! The server listens on `127.0.0.1` ([`FaultServer::start`]) or on a given
//! loopback address and port ([`FaultServer::start_on`], for a test that
//! needs a "name server" on port 53 of its own 127.0.0.x), UDP and TCP on the
//! same port, with std threads (no async runtime), logs every question it
//! gets, and stops when the [`FaultServer`] is dropped.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, MX, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The address carried by deliberately wrong replies.
pub const POISON: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 66);
/// TTL of the records the helpers build.
pub const TTL: u32 = 300;

/// How a question reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A UDP datagram.
    Udp,
    /// A TCP connection (2-byte length prefix).
    Tcp,
}

/// One question received.
#[derive(Clone, Debug)]
pub struct Request {
    /// The decoded query message.
    pub message: Message,
    /// How it came.
    pub transport: Transport,
    /// Who sent it.
    pub peer: SocketAddr,
}

impl Request {
    /// The query ID.
    pub fn id(&self) -> u16 {
        self.message.metadata.id
    }

    /// The (first) question, if any.
    pub fn query(&self) -> Option<&Query> {
        self.message.queries.first()
    }

    /// The question name as sent (`example.org.`), or "" with no question.
    pub fn name(&self) -> String {
        self.query().map(|q| q.name.to_ascii()).unwrap_or_default()
    }

    /// The question type (`A` with no question).
    pub fn rtype(&self) -> RecordType {
        self.query().map(|q| q.query_type).unwrap_or(RecordType::A)
    }

    fn qname(&self) -> Name {
        self.query()
            .map(|q| q.name.clone())
            .unwrap_or_else(Name::root)
    }
}

/// What the server does about one question.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Send this message as built (see [`response`] and the helpers).
    Answer(Message),
    /// Answer SERVFAIL.
    ServFail,
    /// Answer REFUSED.
    Refused,
    /// Never answer (over TCP: keep the connection open, unanswered).
    Silence,
    /// Over TCP, close the connection without answering; over UDP, like [`Reply::Silence`].
    Hangup,
    /// An empty NOERROR reply with the TC bit set (over TCP too, if the
    /// handler says so for a TCP question).
    Truncated,
    /// A reply with another ID (the request's plus one), carrying [`POISON`].
    WrongId,
    /// A reply with the right ID but another question name
    /// (`wrong-question.invalid.`), carrying [`POISON`].
    WrongQuestion,
    /// Exactly these bytes (over TCP with a length prefix added).
    Raw(Vec<u8>),
    /// Several replies, sent in this order.
    Sequence(Vec<Reply>),
    /// The inner reply over UDP after this long (a slow server: the reply
    /// reaches the client's socket whatever the client did meanwhile); over
    /// TCP, sent after waiting as long on that connection.
    Delayed(std::time::Duration, Box<Reply>),
    /// Send the inner reply over UDP from another port of 127.0.0.1 (a reply
    /// from an address the client did not ask); over TCP, nothing is sent.
    Spoofed(Box<Reply>),
}

impl Reply {
    /// A reply with `rcode` and `answers` in the answer section.
    pub fn records(req: &Request, rcode: ResponseCode, answers: Vec<Record>) -> Reply {
        let mut msg = response(req);
        msg.metadata.response_code = rcode;
        msg.answers = answers;
        Reply::Answer(msg)
    }

    /// A reply with only a response code (no records).
    pub fn rcode(req: &Request, rcode: ResponseCode) -> Reply {
        Reply::records(req, rcode, Vec::new())
    }

    /// NOERROR with MX records `(preference, exchange)` owned by the question name.
    pub fn mx(req: &Request, mxs: &[(u16, &str)]) -> Reply {
        let owner = req.qname();
        let answers = mxs
            .iter()
            .map(|(pref, host)| {
                Record::from_rdata(owner.clone(), TTL, RData::MX(MX::new(*pref, name(host))))
            })
            .collect();
        Reply::records(req, ResponseCode::NoError, answers)
    }

    /// NOERROR with A records owned by the question name.
    pub fn a(req: &Request, addrs: &[&str]) -> Reply {
        let owner = req.qname();
        let answers = addrs
            .iter()
            .map(|a| {
                let ip: Ipv4Addr = a.parse().expect("fault server: bad IPv4 address");
                Record::from_rdata(owner.clone(), TTL, RData::A(A(ip)))
            })
            .collect();
        Reply::records(req, ResponseCode::NoError, answers)
    }

    /// NOERROR with AAAA records owned by the question name.
    pub fn aaaa(req: &Request, addrs: &[&str]) -> Reply {
        let owner = req.qname();
        let answers = addrs
            .iter()
            .map(|a| {
                let ip: Ipv6Addr = a.parse().expect("fault server: bad IPv6 address");
                Record::from_rdata(owner.clone(), TTL, RData::AAAA(AAAA(ip)))
            })
            .collect();
        Reply::records(req, ResponseCode::NoError, answers)
    }

    /// NXDOMAIN with an SOA (record TTL `soa_ttl`, MINIMUM `minimum`) in the
    /// authority section, as an authoritative server sends it (RFC 2308 section 3).
    pub fn nxdomain(req: &Request, soa_ttl: u32, minimum: u32) -> Reply {
        let mut msg = response(req);
        msg.metadata.response_code = ResponseCode::NXDomain;
        msg.authorities.push(soa(&req.qname(), soa_ttl, minimum));
        Reply::Answer(msg)
    }

    /// NODATA: NOERROR, no answer, an SOA in the authority section (RFC 2308 section 2.2).
    pub fn nodata(req: &Request, soa_ttl: u32, minimum: u32) -> Reply {
        let mut msg = response(req);
        msg.authorities.push(soa(&req.qname(), soa_ttl, minimum));
        Reply::Answer(msg)
    }

    /// The same reply with the TC bit set (a [`Reply::Answer`]; other replies
    /// are returned unchanged).
    pub fn with_tc(self) -> Reply {
        match self {
            Reply::Answer(mut msg) => {
                msg.metadata.truncation = true;
                Reply::Answer(msg)
            }
            other => other,
        }
    }

    /// The same reply with the AD bit set (a [`Reply::Answer`]; other replies
    /// are returned unchanged).
    pub fn with_ad(self) -> Reply {
        match self {
            Reply::Answer(mut msg) => {
                msg.metadata.authentic_data = true;
                Reply::Answer(msg)
            }
            other => other,
        }
    }

    /// The same reply with the AA bit set, as an authoritative server sends
    /// it (RFC 1035 section 4.1.1; a [`Reply::Answer`]; other replies are
    /// returned unchanged). Without it, the fault server's answers are those
    /// of a lame server.
    pub fn with_aa(self) -> Reply {
        match self {
            Reply::Answer(mut msg) => {
                msg.metadata.authoritative = true;
                Reply::Answer(msg)
            }
            other => other,
        }
    }
}

/// A name from text; panics on a bad name (test input).
pub fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("fault server: bad domain name")
}

/// The empty NOERROR response to `req`: same ID, opcode, RD and question,
/// QR and RA set, AA clear, EDNS (payload 1232) if the query had it.
pub fn response(req: &Request) -> Message {
    let q = &req.message;
    let mut msg = Message::response(q.metadata.id, q.metadata.op_code);
    msg.metadata.recursion_desired = q.metadata.recursion_desired;
    msg.metadata.recursion_available = true;
    msg.queries = q.queries.clone();
    if q.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        msg.set_edns(edns);
    }
    msg
}

/// An SOA record for the zone holding `owner` (its last two labels).
pub fn soa(owner: &Name, soa_ttl: u32, minimum: u32) -> Record {
    let zone = owner.trim_to(2);
    let mname = name("ns.invalid.");
    let rname = name("hostmaster.invalid.");
    Record::from_rdata(
        zone,
        soa_ttl,
        RData::SOA(SOA::new(mname, rname, 1, 3600, 600, 86400, minimum)),
    )
}

/// Encode a message; panics if hickory cannot (test input).
pub fn encode(msg: &Message) -> Vec<u8> {
    msg.to_vec().expect("fault server: cannot encode the reply")
}

/// A reply to `req` (right ID, QR set, one question) whose question name is
/// a compression pointer to itself (RFC 1035 section 4.1.4): a decoder that
/// follows pointers blindly loops forever.
pub fn compression_loop(req: &Request) -> Vec<u8> {
    let mut out = Vec::with_capacity(18);
    out.extend_from_slice(&req.id().to_be_bytes());
    out.extend_from_slice(&[0x81, 0x80]); // QR, RD, RA; NOERROR
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // 1 question
    out.extend_from_slice(&[0xC0, 12]); // the name at offset 12 points at offset 12
    out.extend_from_slice(&u16::from(req.rtype()).to_be_bytes());
    out.extend_from_slice(&[0, 1]); // IN
    out
}

/// A normal reply cut to its first `keep` bytes (a packet cut short).
pub fn cut_short(reply: &Message, keep: usize) -> Vec<u8> {
    let mut bytes = encode(reply);
    bytes.truncate(keep);
    bytes
}

/// A reply carrying [`POISON`] for the question name.
fn poisoned(req: &Request) -> Message {
    let mut msg = response(req);
    msg.answers
        .push(Record::from_rdata(req.qname(), TTL, RData::A(A(POISON))));
    msg
}

/// What goes on the wire for one reply.
enum Out {
    Bytes(Vec<u8>),
    Spoofed(Vec<u8>),
    Hangup,
    Later(std::time::Duration, Vec<Out>),
}

fn render(reply: Reply, req: &Request, out: &mut Vec<Out>) {
    let with_rcode = |rcode| {
        let mut msg = response(req);
        msg.metadata.response_code = rcode;
        encode(&msg)
    };
    match reply {
        Reply::Answer(msg) => out.push(Out::Bytes(encode(&msg))),
        Reply::ServFail => out.push(Out::Bytes(with_rcode(ResponseCode::ServFail))),
        Reply::Refused => out.push(Out::Bytes(with_rcode(ResponseCode::Refused))),
        Reply::Silence => {}
        Reply::Hangup => out.push(Out::Hangup),
        Reply::Truncated => {
            let mut msg = response(req);
            msg.metadata.truncation = true;
            out.push(Out::Bytes(encode(&msg)));
        }
        Reply::WrongId => {
            let mut msg = poisoned(req);
            msg.metadata.id = req.id().wrapping_add(1);
            out.push(Out::Bytes(encode(&msg)));
        }
        Reply::WrongQuestion => {
            let mut msg = poisoned(req);
            for q in &mut msg.queries {
                q.name = name("wrong-question.invalid.");
            }
            out.push(Out::Bytes(encode(&msg)));
        }
        Reply::Raw(bytes) => out.push(Out::Bytes(bytes)),
        Reply::Sequence(replies) => {
            for r in replies {
                render(r, req, out);
            }
        }
        Reply::Spoofed(inner) => {
            let mut inner_out = Vec::new();
            render(*inner, req, &mut inner_out);
            out.extend(inner_out.into_iter().filter_map(|o| match o {
                Out::Bytes(b) | Out::Spoofed(b) => Some(Out::Spoofed(b)),
                Out::Hangup | Out::Later(..) => None,
            }));
        }
        Reply::Delayed(after, inner) => {
            let mut inner_out = Vec::new();
            render(*inner, req, &mut inner_out);
            out.push(Out::Later(after, inner_out));
        }
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// One logged question: (name as sent, type mnemonic, transport).
pub type LoggedQuery = (String, String, Transport);

struct Shared {
    handler: Box<Handler>,
    log: Mutex<Vec<LoggedQuery>>,
    stop: AtomicBool,
    /// Sends [`Reply::Spoofed`] replies (another port) and the wake-up datagram.
    spoof: UdpSocket,
}

impl Shared {
    /// Log the question and ask the handler what to do.
    fn handle(&self, req: &Request) -> Vec<Out> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((req.name(), req.rtype().to_string(), req.transport));
        let mut out = Vec::new();
        render((self.handler)(req), req, &mut out);
        out
    }
}

/// A running fault server on a loopback address (UDP and TCP, same port). Stops when dropped.
pub struct FaultServer {
    addr: SocketAddr,
    tcp: bool,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl FaultServer {
    /// Start a server whose replies `handler` decides, on UDP and TCP.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> FaultServer {
        Self::spawn(Box::new(handler), true, None)
    }

    /// Start a server on UDP only: TCP connections to its port are refused.
    pub fn start_udp_only(
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> FaultServer {
        Self::spawn(Box::new(handler), false, None)
    }

    /// Start a server on `addr` (a loopback address, such as
    /// `127.0.0.12:53`; port 53 needs root), UDP and TCP. Panics when the
    /// address is not loopback or cannot be bound.
    pub fn start_on(
        addr: SocketAddr,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> FaultServer {
        Self::spawn(Box::new(handler), true, Some(addr))
    }

    /// Like [`FaultServer::start_on`], on UDP only: TCP connections to the
    /// address are refused (a truncated answer cannot be had over TCP).
    pub fn start_udp_only_on(
        addr: SocketAddr,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> FaultServer {
        Self::spawn(Box::new(handler), false, Some(addr))
    }

    fn spawn(handler: Box<Handler>, tcp: bool, at: Option<SocketAddr>) -> FaultServer {
        let (udp, listener) = match at {
            None => bind(tcp).expect("fault server: cannot bind 127.0.0.1"),
            Some(addr) => {
                assert!(
                    addr.ip().is_loopback(),
                    "fault server: {addr} is not a loopback address"
                );
                bind_at(addr, tcp)
                    .unwrap_or_else(|e| panic!("fault server: cannot bind {addr}: {e}"))
            }
        };
        let addr = udp.local_addr().expect("fault server: local address");
        // Spoofed replies come from another port of the server's own address.
        let spoof_from = SocketAddr::new(addr.ip(), 0);
        let shared = Arc::new(Shared {
            handler,
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            spoof: UdpSocket::bind(spoof_from)
                .unwrap_or_else(|e| panic!("fault server: cannot bind {spoof_from}: {e}")),
        });
        let mut threads = Vec::new();

        // UDP: one thread drains the socket into a queue (so that bursts do
        // not overflow the kernel buffer), one answers.
        let (tx, rx) = mpsc::channel::<(Vec<u8>, SocketAddr)>();
        let recv_socket = udp.try_clone().expect("fault server: clone socket");
        let s = Arc::clone(&shared);
        threads.push(thread::spawn(move || {
            let mut buf = vec![0u8; 65_535];
            loop {
                let Ok((n, peer)) = recv_socket.recv_from(&mut buf) else {
                    continue;
                };
                if s.stop.load(Ordering::Acquire) {
                    return;
                }
                if tx.send((buf[..n].to_vec(), peer)).is_err() {
                    return;
                }
            }
        }));
        let s = Arc::clone(&shared);
        threads.push(thread::spawn(move || {
            for (packet, peer) in rx {
                let Ok(message) = Message::from_vec(&packet) else {
                    continue;
                };
                if message.metadata.message_type != MessageType::Query {
                    continue;
                }
                let req = Request {
                    message,
                    transport: Transport::Udp,
                    peer,
                };
                for out in s.handle(&req) {
                    send_udp(&udp, &s.spoof, out, peer);
                }
            }
        }));

        if let Some(listener) = listener {
            let s = Arc::clone(&shared);
            threads.push(thread::spawn(move || {
                for stream in listener.incoming() {
                    if s.stop.load(Ordering::Acquire) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let s = Arc::clone(&s);
                    // Detached: ends when the client closes the connection.
                    thread::spawn(move || serve_tcp(stream, &s));
                }
            }));
        }
        FaultServer {
            addr,
            tcp,
            shared,
            threads,
        }
    }

    /// The address (UDP and TCP) the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every question received so far, in order: (name as sent, type, transport).
    pub fn queries(&self) -> Vec<LoggedQuery> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many questions came over `transport`.
    pub fn count(&self, transport: Transport) -> usize {
        self.queries()
            .iter()
            .filter(|(_, _, t)| *t == transport)
            .count()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wake the blocking receive and accept calls so they see `stop`.
        let _ = self.shared.spoof.send_to(&[], self.addr);
        if self.tcp {
            let _ = TcpStream::connect(self.addr);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Bind UDP on 127.0.0.1:0 and, if wanted, TCP on the same port (retrying
/// with another port if that TCP port is taken).
fn bind(tcp: bool) -> io::Result<(UdpSocket, Option<TcpListener>)> {
    let mut last = None;
    for _ in 0..50 {
        let udp = bind_udp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        if !tcp {
            return Ok((udp, None));
        }
        match TcpListener::bind(udp.local_addr()?) {
            Ok(listener) => return Ok((udp, Some(listener))),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no port")))
}

/// Bind UDP on exactly `addr` and, if wanted, TCP on the same address.
fn bind_at(addr: SocketAddr, tcp: bool) -> io::Result<(UdpSocket, Option<TcpListener>)> {
    let udp = bind_udp(addr)?;
    let listener = if tcp {
        Some(TcpListener::bind(udp.local_addr()?)?)
    } else {
        None
    };
    Ok((udp, listener))
}

/// A UDP socket on `addr` with a large receive buffer, so that a burst of
/// thousands of queries is not dropped by the kernel before it is read.
fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Capped by net.core.rmem_max; a smaller buffer is not an error.
    let _ = socket.set_recv_buffer_size(8 << 20);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Answer questions on one TCP connection until the client closes it.
fn serve_tcp(mut stream: TcpStream, shared: &Shared) {
    let Ok(peer) = stream.peer_addr() else { return };
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut body).is_err() {
            return;
        }
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let Ok(message) = Message::from_vec(&body) else {
            return;
        };
        let req = Request {
            message,
            transport: Transport::Tcp,
            peer,
        };
        let mut outs: std::collections::VecDeque<Out> = shared.handle(&req).into();
        while let Some(out) = outs.pop_front() {
            match out {
                Out::Bytes(b) => {
                    let mut framed = Vec::with_capacity(b.len() + 2);
                    framed.extend_from_slice(
                        &u16::try_from(b.len()).unwrap_or(u16::MAX).to_be_bytes(),
                    );
                    framed.extend_from_slice(&b);
                    if stream.write_all(&framed).is_err() {
                        return;
                    }
                }
                Out::Spoofed(_) => {}
                Out::Hangup => return,
                Out::Later(after, inner) => {
                    thread::sleep(after);
                    for o in inner.into_iter().rev() {
                        outs.push_front(o);
                    }
                }
            }
        }
    }
}

/// Sends one rendered reply over UDP; a delayed one from a thread of its
/// own, so the server goes on answering meanwhile. Send errors (the client
/// went away) do not concern the test.
fn send_udp(udp: &UdpSocket, spoof: &UdpSocket, out: Out, peer: SocketAddr) {
    match out {
        Out::Bytes(b) => {
            let _ = udp.send_to(&b, peer);
        }
        Out::Spoofed(b) => {
            let _ = spoof.send_to(&b, peer);
        }
        Out::Hangup => {}
        Out::Later(after, outs) => {
            let (Ok(udp), Ok(spoof)) = (udp.try_clone(), spoof.try_clone()) else {
                return;
            };
            thread::spawn(move || {
                thread::sleep(after);
                for out in outs {
                    send_udp(&udp, &spoof, out, peer);
                }
            });
        }
    }
}

//! Postfix log lines to primary observations.
//!
//! A line is `TIMESTAMP HOST TAG[PID]: MESSAGE`. The time stamp is either
//! classic syslog (`Nov 26 09:46:24`, local time, no year; Postfix's own
//! `maillog_file` writes it with microseconds, `Nov 26 09:46:24.123456`) or
//! RFC 3339 (`2026-11-26T09:46:24.123456+00:00`, rsyslog's high-precision
//! format). The tag is the service's syslog name: `postfix/smtpd`,
//! `postfix/postscreen`, `postfix/qmgr`. Only the port-25 services count
//! (docs/rules/trap.md, "Events"): a tag with a service name in the
//! middle (`postfix/submission/smtpd`, `postfix/smtps/smtpd`, Debian's
//! master.cf sets `-o syslog_name=postfix/submission`) is skipped, and so
//! is another instance (`postfix-out/smtpd`) unless its name is configured
//! ([`ParserConfig::syslog_names`]).
//!
//! The events, and what each becomes ([`Event`]):
//! - postscreen `CONNECT from [C]:P to [L]:25`: a `Connect` observation
//!   with the local address (the only event that has it, so a single log
//!   tells the real MX address from a decoy alias on the same host);
//! - postscreen `PREGREET ... from [C]:P: ...`: a `Connect` observation
//!   with [`Flags::PREGREET`] (and the local address of its `CONNECT`, kept
//!   in a small bounded map of open postscreen sessions);
//! - postscreen `PASS NEW`/`PASS OLD`/`DNSBL`/`HANGUP`/`ALLOWLIST VETO`/
//!   `DISCONNECT` ...: recognised, no observation (the session was already
//!   observed at its `CONNECT`);
//! - smtpd `connect from NAME[C]`: a `Connect` observation without local
//!   address; `NAME` is the verified client name or `unknown`;
//! - smtpd `QUEUEID: client=NAME[C]` then qmgr `QUEUEID: from=<S>,
//!   size=N, nrcpt=N`: the message was accepted, a `Data` observation with
//!   [`Flags::ACCEPTED`] and the sender's domain. The queue id → client map
//!   between the two lines is bounded ([`ParserConfig::queue_capacity`]):
//!   the oldest entry goes first;
//! - smtpd or postscreen `NOQUEUE: reject: STAGE from NAME[C]: ...; from=<S>
//!   to=<R> proto=P helo=<H>`: an observation at that stage with the HELO
//!   name and sender domain; [`Flags::BAD_RCPT`] when a recipient was
//!   refused as unknown.
//!
//! Every observation carries the time of the line that revealed it (the
//! accepted message: qmgr's line; PREGREET: its own line), never an earlier
//! one, so that nothing is stored below a watermark already handed out.
//!
//! Local parts of addresses are never kept: only the domain after the last
//! `@` (docs/rules/trap.md, "Retention and privacy").
//!
//! The parser borrows from the line, allocates only for the observations it
//! returns, and never panics on any input (a proptest and the
//! `postfix_log` fuzz target check this).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;

use crate::model::{Flags, Micros, Observation, Role, Stage};

/// The longest HELO name or client name kept (longer ones are cut).
const MAX_NAME: usize = 255;

/// How the parser reads a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParserConfig {
    /// The stream name the observations carry (the store's stream key).
    pub stream: String,
    /// The accepted syslog names (`syslog_name` of the port-25 services):
    /// a tag counts when it is exactly `NAME/smtpd`, `NAME/postscreen` or
    /// `NAME/qmgr` for one of these. Default: `postfix`.
    pub syslog_names: Vec<String>,
    /// The offset of the log's local time from UTC in seconds (east
    /// positive), applied to classic syslog time stamps, which carry no
    /// zone. RFC 3339 time stamps carry their own. Default 0 (UTC); see
    /// [`system_utc_offset`].
    pub utc_offset: i32,
    /// How many accepted-but-not-yet-queued messages (queue id → client)
    /// and open postscreen sessions are remembered, each.
    pub queue_capacity: usize,
}

impl ParserConfig {
    /// The defaults for a stream named `stream`.
    pub fn new(stream: &str) -> ParserConfig {
        ParserConfig {
            stream: stream.to_string(),
            syslog_names: vec!["postfix".to_string()],
            utc_offset: 0,
            queue_capacity: 10_000,
        }
    }
}

/// The machine's current offset from UTC in seconds, from `date +%z`
/// (the crate has no time-zone database and no unsafe code to call
/// `localtime_r`). `None` when `date` cannot be run or prints nonsense.
/// It is the offset now: around a daylight-saving change, classic time
/// stamps from the other side are an hour off until it is asked again
/// (RFC 3339 time stamps and journald have no such problem).
pub fn system_utc_offset() -> Option<i32> {
    let out = std::process::Command::new("date")
        .arg("+%z")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = std::str::from_utf8(&out.stdout).ok()?.trim();
    parse_offset(text.as_bytes()).map(|(secs, _)| secs)
}

/// A syslog line split into its parts; borrowed from the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyslogLine<'a> {
    /// The time stamp, in Unix microseconds (UTC).
    pub at: Micros,
    pub host: &'a str,
    /// The syslog tag without the process id, such as `postfix/smtpd`.
    pub tag: &'a str,
    pub message: &'a str,
}

/// Splits `TIMESTAMP HOST TAG[PID]: MESSAGE`. `reference` supplies the year
/// of a classic syslog time stamp (see [`classic_time`]); `utc_offset` its
/// zone. `None` when the line does not have that shape.
pub fn split_line(line: &str, reference: Micros, utc_offset: i32) -> Option<SyslogLine<'_>> {
    let b = line.as_bytes();
    let (at, used) = if b.first()?.is_ascii_digit() {
        rfc3339_time(b)?
    } else {
        classic_time(b, reference, utc_offset)?
    };
    let rest = line.get(used..)?;
    let rest = rest.strip_prefix(' ')?.trim_start_matches(' ');
    let (host, rest) = rest.split_once(' ')?;
    // The tag ends at '[' (process id) or ':'.
    let end = rest.find([':', '[', ' '])?;
    let tag = &rest[..end];
    let mut after = &rest[end..];
    if let Some(p) = after.strip_prefix('[') {
        let close = p.find(']')?;
        after = &p[close + 1..];
    }
    let message = after
        .strip_prefix(": ")
        .or_else(|| after.strip_prefix(':'))?;
    if tag.is_empty() {
        return None;
    }
    Some(SyslogLine {
        at,
        host,
        tag,
        message,
    })
}

/// The Postfix program a tag names, when the tag is `NAME/PROGRAM` for one
/// of `names` (no service name in between).
fn program<'a>(tag: &'a str, names: &[String]) -> Option<&'a str> {
    names.iter().find_map(|n| {
        let p = tag.strip_prefix(n.as_str())?.strip_prefix('/')?;
        (!p.contains('/')).then_some(p)
    })
}

/// What a postscreen line says about a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostscreenKind {
    /// `CONNECT from [C]:P to [L]:LP`.
    Connect { local: IpAddr, local_port: u16 },
    /// `PREGREET N after T from [C]:P: TEXT`: spoke before the greeting.
    Pregreet,
    /// `PASS NEW [C]:P`: passed the tests, handed to smtpd.
    PassNew,
    /// `PASS OLD [C]:P`: allowlisted by the cache, handed to smtpd.
    PassOld,
    /// `DNSBL rank N for [C]:P`.
    Dnsbl,
    /// `HANGUP after T from [C]:P in TEST`.
    Hangup,
    /// `ALLOWLIST VETO [C]:P` (`WHITELIST VETO` before 3.6): connected to
    /// an address excluded by `postscreen_allowlist_interfaces`.
    AllowlistVeto,
    /// `ALLOWLISTED [C]:P` (`WHITELISTED`).
    Allowlisted,
    /// `DENYLISTED [C]:P` (`BLACKLISTED`).
    Denylisted,
    /// `DISCONNECT [C]:P`.
    Disconnect,
}

/// One event, borrowed from its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    Postscreen {
        kind: PostscreenKind,
        client: IpAddr,
        port: u16,
    },
    /// smtpd `connect from NAME[C]`.
    SmtpdConnect { name: &'a str, client: IpAddr },
    /// smtpd `QUEUEID: client=NAME[C]`: a message from this client got a
    /// queue file.
    QueueClient {
        queue_id: &'a str,
        name: &'a str,
        client: IpAddr,
    },
    /// qmgr `QUEUEID: from=<S>, size=N, nrcpt=N`: the message was queued
    /// (accepted). `sender` is the address between the brackets.
    QueueFrom { queue_id: &'a str, sender: &'a str },
    /// smtpd or postscreen `QUEUEID|NOQUEUE: reject: STAGE from NAME[C]...`.
    Reject {
        stage: Stage,
        name: &'a str,
        client: IpAddr,
        port: Option<u16>,
        helo: Option<&'a str>,
        sender: Option<&'a str>,
        /// A recipient was refused as unknown (`User unknown`).
        bad_rcpt: bool,
    },
}

/// The event a message of `program` (`smtpd`, `postscreen`, `qmgr`)
/// carries, if any.
pub fn parse_event<'a>(program: &str, message: &'a str) -> Option<Event<'a>> {
    match program {
        "postscreen" => postscreen_event(message),
        "smtpd" => smtpd_event(message),
        "qmgr" => qmgr_event(message),
        _ => None,
    }
}

fn postscreen_event(m: &str) -> Option<Event<'_>> {
    let ev = |kind, (client, port)| Event::Postscreen { kind, client, port };
    if let Some(r) = m.strip_prefix("CONNECT from ") {
        let (client, rest) = bracketed_addr(r)?;
        let (local, _) = bracketed_addr(rest.strip_prefix(" to ")?)?;
        return Some(ev(
            PostscreenKind::Connect {
                local: local.0,
                local_port: local.1,
            },
            client,
        ));
    }
    if let Some(r) = m.strip_prefix("PREGREET ") {
        let at = r.find(" from [")?;
        return Some(ev(
            PostscreenKind::Pregreet,
            bracketed_addr(&r[at + 6..])?.0,
        ));
    }
    if let Some(r) = m.strip_prefix("HANGUP ") {
        let at = r.find(" from [")?;
        return Some(ev(PostscreenKind::Hangup, bracketed_addr(&r[at + 6..])?.0));
    }
    if let Some(r) = m.strip_prefix("DNSBL rank ") {
        let at = r.find(" for [")?;
        return Some(ev(PostscreenKind::Dnsbl, bracketed_addr(&r[at + 5..])?.0));
    }
    let simple: [(&str, PostscreenKind); 9] = [
        ("PASS NEW ", PostscreenKind::PassNew),
        ("PASS OLD ", PostscreenKind::PassOld),
        ("ALLOWLIST VETO ", PostscreenKind::AllowlistVeto),
        ("WHITELIST VETO ", PostscreenKind::AllowlistVeto),
        ("ALLOWLISTED ", PostscreenKind::Allowlisted),
        ("WHITELISTED ", PostscreenKind::Allowlisted),
        ("DENYLISTED ", PostscreenKind::Denylisted),
        ("BLACKLISTED ", PostscreenKind::Denylisted),
        ("DISCONNECT ", PostscreenKind::Disconnect),
    ];
    for (prefix, kind) in simple {
        if let Some(r) = m.strip_prefix(prefix) {
            return Some(ev(kind, bracketed_addr(r)?.0));
        }
    }
    reject_event(m)
}

fn smtpd_event(m: &str) -> Option<Event<'_>> {
    if let Some(r) = m.strip_prefix("connect from ") {
        let (name, client, _, _) = named_addr(r)?;
        return Some(Event::SmtpdConnect { name, client });
    }
    if let Some((queue_id, rest)) = queue_line(m)
        && let Some(r) = rest.strip_prefix("client=")
    {
        let (name, client, _, _) = named_addr(r)?;
        return Some(Event::QueueClient {
            queue_id,
            name,
            client,
        });
    }
    reject_event(m)
}

fn qmgr_event(m: &str) -> Option<Event<'_>> {
    let (queue_id, rest) = queue_line(m)?;
    let r = rest.strip_prefix("from=<")?;
    // The sender may itself contain '>' only quoted; take the last "> ,
    // size=" form Postfix writes.
    let end = r.find(">, size=")?;
    let sender = &r[..end];
    if !r[end..].contains(", nrcpt=") {
        return None;
    }
    Some(Event::QueueFrom { queue_id, sender })
}

/// `QUEUEID: REST` with a plausible queue id (short hex or long ids).
fn queue_line(m: &str) -> Option<(&str, &str)> {
    let (id, rest) = m.split_once(": ")?;
    let ok = (5..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some((id, rest))
}

/// `QUEUEID: reject: STAGE from NAME[C]: TEXT; from=<S> to=<R> proto=P
/// helo=<H>` (also `NOQUEUE`; postscreen separates with commas).
fn reject_event(m: &str) -> Option<Event<'_>> {
    let (_, rest) = m.split_once(": ")?;
    let rest = rest.strip_prefix("reject: ")?;
    let (stage_word, rest) = rest.split_once(" from ")?;
    let stage = match stage_word {
        "CONNECT" => Stage::Connect,
        "HELO" | "EHLO" => Stage::Helo,
        "MAIL" => Stage::Mail,
        "RCPT" | "VRFY" | "ETRN" => Stage::Rcpt,
        "DATA" | "END-OF-MESSAGE" | "BDAT" => Stage::Data,
        _ => return None,
    };
    let (name, client, port, text) = named_addr(rest)?;
    // The trailer is at the end; HELO last.
    let (body, helo) = match text.rfind(" helo=<") {
        Some(i) => {
            let h = &text[i + 7..];
            let h = h.strip_suffix('>').unwrap_or(h);
            (&text[..i], Some(h))
        }
        None => (text, None),
    };
    let sender = body.rfind("from=<").and_then(|i| {
        let s = &body[i + 6..];
        s.find('>').map(|e| &s[..e])
    });
    let bad_rcpt = stage == Stage::Rcpt && body.contains("User unknown");
    Some(Event::Reject {
        stage,
        name,
        client,
        port,
        helo,
        sender,
        bad_rcpt,
    })
}

/// `[IP]:PORT` at the start of `s`; the rest after the port.
fn bracketed_addr(s: &str) -> Option<((IpAddr, u16), &str)> {
    let s = s.strip_prefix('[')?;
    let close = s.find(']')?;
    let ip: IpAddr = s[..close].parse().ok()?;
    let rest = s[close + 1..].strip_prefix(':')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let port: u16 = rest[..digits].parse().ok()?;
    Some(((ip, port), &rest[digits..]))
}

/// `NAME[IP]` or `NAME[IP]:PORT` at the start of `s` (NAME may be empty,
/// as postscreen writes `[IP]:PORT`); the rest after it.
fn named_addr(s: &str) -> Option<(&str, IpAddr, Option<u16>, &str)> {
    let open = s.find('[')?;
    let name = &s[..open];
    if name.contains([' ', ']']) {
        return None;
    }
    let close = open + s[open..].find(']')?;
    let ip: IpAddr = s[open + 1..close].parse().ok()?;
    let mut rest = &s[close + 1..];
    let mut port = None;
    if let Some(r) = rest.strip_prefix(':') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            port = r[..digits].parse().ok();
            rest = &r[digits..];
        }
    }
    Some((name, ip, port, rest))
}

/// The domain of an envelope address, lower-cased: the part after the last
/// `@`, never the local part. `None` for the null sender, an address
/// without `@` or a domain with characters a domain cannot have.
pub fn sender_domain(sender: &str) -> Option<String> {
    let (_, domain) = sender.rsplit_once('@')?;
    let domain = domain.trim_end_matches('.');
    let ok = !domain.is_empty()
        && domain.len() <= MAX_NAME
        && domain.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':')
        });
    ok.then(|| domain.to_ascii_lowercase())
}

/// `s` cut to at most [`MAX_NAME`] bytes on a character boundary.
fn bounded(s: &str) -> String {
    let mut end = s.len().min(MAX_NAME);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A verified client name, or `None` for Postfix's `unknown` (or none).
fn client_name(name: &str) -> Option<String> {
    (!name.is_empty() && !name.eq_ignore_ascii_case("unknown")).then(|| bounded(name))
}

/// A map that keeps at most `cap` entries, forgetting the oldest insert.
#[derive(Debug)]
struct BoundedMap<K, V> {
    cap: usize,
    seq: u64,
    map: HashMap<K, (V, u64)>,
    order: VecDeque<(K, u64)>,
}

impl<K: Clone + Eq + Hash, V> BoundedMap<K, V> {
    fn new(cap: usize) -> Self {
        BoundedMap {
            cap: cap.max(1),
            seq: 0,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn insert(&mut self, k: K, v: V) {
        self.seq += 1;
        self.map.insert(k.clone(), (v, self.seq));
        self.order.push_back((k, self.seq));
        while self.map.len() > self.cap {
            let Some((old, seq)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|(_, s)| *s == seq) {
                self.map.remove(&old);
            }
        }
        // Entries removed by `remove` leave stale order slots: compact.
        if self.order.len() > 2 * self.cap {
            let map = &self.map;
            self.order
                .retain(|(k, s)| map.get(k).is_some_and(|(_, cur)| cur == s));
        }
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|(v, _)| v)
    }

    fn remove(&mut self, k: &K) -> Option<V> {
        self.map.remove(k).map(|(v, _)| v)
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

/// A queued message's client, between smtpd's `client=` and qmgr's
/// `from=` lines.
#[derive(Debug)]
struct Pending {
    client: IpAddr,
    name: Option<String>,
}

/// The stateful parser of one stream: lines (or journald messages) in,
/// observations out.
#[derive(Debug)]
pub struct PostfixParser {
    config: ParserConfig,
    queue: BoundedMap<Box<str>, Pending>,
    /// Open postscreen sessions: client address and port → local address.
    sessions: BoundedMap<(IpAddr, u16), IpAddr>,
}

impl PostfixParser {
    pub fn new(config: ParserConfig) -> PostfixParser {
        let cap = config.queue_capacity;
        PostfixParser {
            config,
            queue: BoundedMap::new(cap),
            sessions: BoundedMap::new(cap),
        }
    }

    pub fn config(&self) -> &ParserConfig {
        &self.config
    }

    /// How many queue ids and postscreen sessions are remembered now.
    pub fn pending(&self) -> (usize, usize) {
        (self.queue.len(), self.sessions.len())
    }

    /// One log line (without its line end). Pushes the observations it
    /// gives to `out`; returns the line's time when it is a syslog line at
    /// all (Postfix's or not: every dated line says the stream got that
    /// far), `None` otherwise. `reference` gives classic time stamps their
    /// year (pass "now").
    pub fn line(
        &mut self,
        line: &str,
        reference: Micros,
        out: &mut Vec<Observation>,
    ) -> Option<Micros> {
        let l = split_line(line, reference, self.config.utc_offset)?;
        self.message(l.at, l.tag, l.message, out);
        Some(l.at)
    }

    /// One message with its syslog identifier (tag, such as
    /// `postfix/smtpd`) and time, as journald gives them. Returns whether
    /// the message was one of the recognised events.
    pub fn message(
        &mut self,
        at: Micros,
        tag: &str,
        message: &str,
        out: &mut Vec<Observation>,
    ) -> bool {
        let Some(program) = program(tag, &self.config.syslog_names) else {
            return false;
        };
        let Some(event) = parse_event(program, message) else {
            return false;
        };
        self.apply(at, event, out);
        true
    }

    fn observation(&self, at: Micros, client: IpAddr, stage: Stage) -> Observation {
        Observation {
            at,
            role: Role::Primary,
            stream: self.config.stream.clone(),
            client,
            local: None,
            client_name: None,
            stage,
            helo: None,
            mail_domain: None,
            flags: Flags::default(),
        }
    }

    fn apply(&mut self, at: Micros, event: Event<'_>, out: &mut Vec<Observation>) {
        match event {
            Event::Postscreen { kind, client, port } => match kind {
                PostscreenKind::Connect { local, local_port } => {
                    // Port 25 only (submission does not go through postscreen).
                    if local_port != 25 {
                        return;
                    }
                    self.sessions.insert((client, port), local);
                    let mut o = self.observation(at, client, Stage::Connect);
                    o.local = Some(local);
                    out.push(o);
                }
                PostscreenKind::Pregreet => {
                    let mut o = self.observation(at, client, Stage::Connect);
                    if let Some(&local) = self.sessions.get(&(client, port)) {
                        o.local = Some(local);
                    }
                    o.flags = Flags::PREGREET;
                    out.push(o);
                }
                PostscreenKind::PassNew | PostscreenKind::PassOld | PostscreenKind::Disconnect => {
                    self.sessions.remove(&(client, port));
                }
                _ => {}
            },
            Event::SmtpdConnect { name, client } => {
                let mut o = self.observation(at, client, Stage::Connect);
                o.client_name = client_name(name);
                out.push(o);
            }
            Event::QueueClient {
                queue_id,
                name,
                client,
            } => {
                self.queue.insert(
                    queue_id.into(),
                    Pending {
                        client,
                        name: client_name(name),
                    },
                );
            }
            Event::QueueFrom { queue_id, sender } => {
                // Only messages that came in over a counted smtpd.
                let Some(p) = self.queue.remove(&Box::<str>::from(queue_id)) else {
                    return;
                };
                let mut o = self.observation(at, p.client, Stage::Data);
                o.client_name = p.name;
                o.mail_domain = sender_domain(sender);
                o.flags = Flags::ACCEPTED;
                out.push(o);
            }
            Event::Reject {
                stage,
                name,
                client,
                port,
                helo,
                sender,
                bad_rcpt,
            } => {
                let mut o = self.observation(at, client, stage);
                o.client_name = client_name(name);
                o.helo = helo.filter(|h| !h.is_empty()).map(bounded);
                o.mail_domain = sender.and_then(sender_domain);
                if let Some(port) = port
                    && let Some(&local) = self.sessions.get(&(client, port))
                {
                    o.local = Some(local);
                }
                if bad_rcpt {
                    o.flags = Flags::BAD_RCPT;
                }
                out.push(o);
            }
        }
    }
}

// ---- time stamps ----

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year) of a Unix time in microseconds.
fn year_of(t: Micros) -> i64 {
    let days = t.div_euclid(86_400_000_000);
    // civil_from_days, year only.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(m <= 2)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, &d| n * 10 + u32::from(d - b'0')))
}

/// `.ffffff` at the start of `b`: microseconds (digits past the sixth are
/// dropped) and the bytes used. No dot: (0, 0).
fn fraction(b: &[u8]) -> (i64, usize) {
    if b.first() != Some(&b'.') {
        return (0, 0);
    }
    let digits = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut us = 0i64;
    for i in 0..6 {
        us = us * 10
            + b.get(1 + i)
                .filter(|_| i < digits)
                .map_or(0, |d| i64::from(d - b'0'));
    }
    (us, 1 + digits)
}

/// `HH:MM:SS` at the start of `b`: seconds of the day.
fn clock(b: &[u8]) -> Option<i64> {
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, s) = (num(&b[0..2])?, num(&b[3..5])?, num(&b[6..8])?);
    // 60: a leap second, as syslog may write it.
    (h < 24 && m < 60 && s <= 60).then(|| i64::from(h * 3600 + m * 60 + s))
}

/// `Z`, `+HH:MM`, `+HHMM` or `-...`: offset seconds east of UTC, bytes used.
fn parse_offset(b: &[u8]) -> Option<(i32, usize)> {
    let sign = match b.first()? {
        b'Z' | b'z' => return Some((0, 1)),
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h = num(b.get(1..3)?)?;
    let (m, used) = if b.get(3) == Some(&b':') {
        (num(b.get(4..6)?)?, 6)
    } else {
        (num(b.get(3..5)?)?, 5)
    };
    (h < 24 && m < 60).then(|| (sign * (h * 3600 + m * 60) as i32, used))
}

/// An RFC 3339 time stamp at the start of `b`; (time, bytes used).
fn rfc3339_time(b: &[u8]) -> Option<(Micros, usize)> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let y = i64::from(num(&b[0..4])?);
    let mo = num(&b[5..7])?;
    let d = num(&b[8..10])?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    let secs = clock(&b[11..])?;
    let (us, flen) = fraction(&b[19..]);
    let (off, olen) = parse_offset(&b[19 + flen..])?;
    let t = (days_from_civil(y, mo, d) * 86_400 + secs - i64::from(off)) * 1_000_000 + us;
    Some((t, 19 + flen + olen))
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// A classic syslog time stamp (`Nov 26 09:46:24`, `Nov  6 09:46:24`,
/// optionally `.ffffff`) at the start of `b`, in local time `utc_offset`
/// seconds east of UTC; (time, bytes used).
///
/// It has no year: the year is the one (of the reference year and the
/// years either side) that puts the time latest but not more than a day
/// after `reference`. So a December line read in January is last year's,
/// and a line dated just past New Year read a moment before it (a clock a
/// little ahead) is next year's.
pub fn classic_time(b: &[u8], reference: Micros, utc_offset: i32) -> Option<(Micros, usize)> {
    let mon = b.get(0..3)?;
    let mo = MONTHS.iter().position(|m| m.as_slice() == mon)? as u32 + 1;
    let mut i = 3;
    let spaces = b[i..].iter().take_while(|&&c| c == b' ').count();
    if !(1..=2).contains(&spaces) {
        return None;
    }
    i += spaces;
    let dl = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&dl) {
        return None;
    }
    let d = num(&b[i..i + dl])?;
    i += dl;
    if b.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let secs = clock(b.get(i..)?)?;
    i += 8;
    let (us, flen) = fraction(&b[i..]);
    i += flen;
    if d == 0 || d > 31 {
        return None;
    }
    let at = |y: i64| -> Option<Micros> {
        if d > days_in_month(y, mo) {
            return None;
        }
        // Checked: a reference near the ends of i64 must not overflow.
        days_from_civil(y, mo, d)
            .checked_mul(86_400)?
            .checked_add(secs - i64::from(utc_offset))?
            .checked_mul(1_000_000)?
            .checked_add(us)
    };
    let ry = year_of(reference);
    let limit = reference.saturating_add(86_400_000_000);
    // Feb 29 exists only in leap years: look back up to 8 years for it.
    let t = (ry - 8..=ry + 1)
        .rev()
        .filter_map(at)
        .find(|&t| t <= limit)?;
    Some((t, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> Micros {
        (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000
    }

    const NOW: Micros = 1_795_686_384_000_000; // 2026-11-26T09:46:24Z

    #[test]
    fn civil_days_and_years() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(ts(2026, 11, 26, 9, 46, 24), NOW);
        assert_eq!(year_of(NOW), 2026);
        assert_eq!(year_of(ts(2024, 12, 31, 23, 59, 59)), 2024);
        assert_eq!(year_of(ts(2025, 1, 1, 0, 0, 0)), 2025);
        assert_eq!(year_of(ts(1969, 12, 31, 0, 0, 0)), 1969);
    }

    #[test]
    fn classic_time_stamps() {
        let cases: &[(&str, Micros)] = &[
            ("Nov 26 09:46:24 h", NOW),
            ("Nov 26 09:46:24.123456 h", NOW + 123_456),
            ("Nov 26 09:46:24.5 h", NOW + 500_000),
            ("Nov  6 00:00:00 h", ts(2026, 11, 6, 0, 0, 0)),
            ("Nov 06 00:00:00 h", ts(2026, 11, 6, 0, 0, 0)),
            // Up to a day ahead is this year; further, last year.
            ("Nov 27 09:00:00 h", ts(2026, 11, 27, 9, 0, 0)),
            ("Dec 24 09:00:00 h", ts(2025, 12, 24, 9, 0, 0)),
        ];
        for (text, want) in cases {
            let (t, used) = classic_time(text.as_bytes(), NOW, 0).unwrap();
            assert_eq!(t, *want, "{text}");
            assert_eq!(&text[used..], " h", "{text}");
        }
        for bad in [
            "Nov 26 9:46:24",
            "Foo 26 09:46:24",
            "Nov 32 09:46:24",
            "Nov 26 24:00:00",
            "Nov   6 00:00:00",
            "Nov 26",
            "Feb 30 00:00:00",
        ] {
            assert_eq!(classic_time(bad.as_bytes(), NOW, 0), None, "{bad}");
        }
    }

    #[test]
    fn classic_time_year_wrap_and_zone() {
        // A December line read on 2 January: last year.
        let jan2 = ts(2027, 1, 2, 8, 0, 0);
        let (t, _) = classic_time(b"Dec 31 23:59:59", jan2, 0).unwrap();
        assert_eq!(t, ts(2026, 12, 31, 23, 59, 59));
        // A January line read just before midnight on 31 December: next year.
        let dec31 = ts(2026, 12, 31, 23, 59, 0);
        let (t, _) = classic_time(b"Jan  1 00:00:10", dec31, 0).unwrap();
        assert_eq!(t, ts(2027, 1, 1, 0, 0, 10));
        // Feb 29 falls in the last leap year.
        let (t, _) = classic_time(b"Feb 29 12:00:00", NOW, 0).unwrap();
        assert_eq!(t, ts(2024, 2, 29, 12, 0, 0));
        // Local time one hour east of UTC.
        let (t, _) = classic_time(b"Nov 26 10:46:24", NOW, 3600).unwrap();
        assert_eq!(t, NOW);
    }

    #[test]
    fn rfc3339_time_stamps() {
        let cases: &[(&str, Micros)] = &[
            ("2026-11-26T09:46:24Z", NOW),
            ("2026-11-26T09:46:24.123456+00:00", NOW + 123_456),
            ("2026-11-26T10:46:24.1+01:00", NOW + 100_000),
            ("2026-11-26T04:46:24.123456789-0500", NOW + 123_456),
        ];
        for (text, want) in cases {
            let (t, used) = rfc3339_time(text.as_bytes()).unwrap();
            assert_eq!(t, *want, "{text}");
            assert_eq!(used, text.len(), "{text}");
        }
        for bad in [
            "2026-11-26T09:46:24",
            "2026-13-26T09:46:24Z",
            "2026-02-30T09:46:24Z",
            "2026-11-26T09:46:24+2",
            "2026/11/26T09:46:24Z",
        ] {
            assert_eq!(rfc3339_time(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn splits_lines() {
        let l = split_line(
            "Nov 26 09:46:24.123456 mx1 postfix/smtpd[1234]: connect from unknown[127.0.0.1]",
            NOW,
            0,
        )
        .unwrap();
        assert_eq!(l.at, NOW + 123_456);
        assert_eq!(l.host, "mx1");
        assert_eq!(l.tag, "postfix/smtpd");
        assert_eq!(l.message, "connect from unknown[127.0.0.1]");
        let l = split_line("2026-11-26T09:46:24+00:00 mx1 kernel: hello", NOW, 0).unwrap();
        assert_eq!((l.tag, l.message), ("kernel", "hello"));
        assert_eq!(split_line("Nov 26 09:46:24 mx1", NOW, 0), None);
        assert_eq!(split_line("", NOW, 0), None);
    }

    fn parse_all(lines: &[&str]) -> Vec<Observation> {
        let mut p = PostfixParser::new(ParserConfig::new("mx1"));
        let mut out = Vec::new();
        for l in lines {
            p.line(l, NOW, &mut out);
        }
        out
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn postscreen_connect_and_pregreet() {
        let out = parse_all(&[
            "Nov 26 09:46:24 mx postfix/postscreen[10]: CONNECT from [192.0.2.7]:41234 to [198.51.100.99]:25",
            "Nov 26 09:46:25 mx postfix/postscreen[10]: PREGREET 11 after 0.23 from [192.0.2.7]:41234: EHLO x\\r\\n",
            "Nov 26 09:46:26 mx postfix/postscreen[10]: DNSBL rank 3 for [192.0.2.7]:41234",
            "Nov 26 09:46:27 mx postfix/postscreen[10]: HANGUP after 2.1 from [192.0.2.7]:41234 in tests after SMTP handshake",
            "Nov 26 09:46:27 mx postfix/postscreen[10]: DISCONNECT [192.0.2.7]:41234",
            "Nov 26 09:46:28 mx postfix/postscreen[10]: CONNECT from [2001:db8::5]:5000 to [2001:db8::1]:25",
            "Nov 26 09:46:28 mx postfix/postscreen[10]: ALLOWLIST VETO [2001:db8::5]:5000",
            "Nov 26 09:46:29 mx postfix/postscreen[10]: CONNECT from [192.0.2.8]:1 to [198.51.100.99]:587",
        ]);
        assert_eq!(out.len(), 3, "{out:#?}");
        assert_eq!(out[0].client, ip("192.0.2.7"));
        assert_eq!(out[0].local, Some(ip("198.51.100.99")));
        assert_eq!(out[0].stage, Stage::Connect);
        assert_eq!(out[0].role, Role::Primary);
        assert_eq!(out[0].stream, "mx1");
        assert!(out[0].flags.is_empty());
        assert_eq!(out[1].flags, Flags::PREGREET);
        assert_eq!(out[1].at, NOW + 1_000_000, "the PREGREET line's time");
        assert_eq!(out[1].local, Some(ip("198.51.100.99")));
        assert_eq!(out[2].client, ip("2001:db8::5"));
        assert_eq!(out[2].local, Some(ip("2001:db8::1")));
    }

    #[test]
    fn postscreen_events_parse() {
        let cases: &[(&str, PostscreenKind)] = &[
            ("PASS NEW [192.0.2.1]:1", PostscreenKind::PassNew),
            ("PASS OLD [192.0.2.1]:1", PostscreenKind::PassOld),
            (
                "WHITELIST VETO [192.0.2.1]:1",
                PostscreenKind::AllowlistVeto,
            ),
            ("ALLOWLISTED [192.0.2.1]:1", PostscreenKind::Allowlisted),
            ("BLACKLISTED [192.0.2.1]:1", PostscreenKind::Denylisted),
            ("DNSBL rank 5 for [192.0.2.1]:1", PostscreenKind::Dnsbl),
        ];
        for (m, kind) in cases {
            assert_eq!(
                parse_event("postscreen", m),
                Some(Event::Postscreen {
                    kind: *kind,
                    client: ip("192.0.2.1"),
                    port: 1
                }),
                "{m}"
            );
        }
    }

    #[test]
    fn smtpd_connect_names() {
        let out = parse_all(&[
            "Nov 26 09:46:24 mx postfix/smtpd[11]: connect from unknown[192.0.2.7]",
            "Nov 26 09:46:24 mx postfix/smtpd[11]: connect from mail-a1.example.com[2001:db8::7]",
            "Nov 26 09:46:24 mx postfix/smtpd[11]: connect from h.example[192.0.2.9]:5555",
            // Not port 25: submission and smtps, another instance, another program.
            "Nov 26 09:46:24 mx postfix/submission/smtpd[12]: connect from unknown[192.0.2.1]",
            "Nov 26 09:46:24 mx postfix/smtps/smtpd[12]: connect from unknown[192.0.2.1]",
            "Nov 26 09:46:24 mx postfix-out/smtpd[12]: connect from unknown[192.0.2.1]",
            "Nov 26 09:46:24 mx postfix/smtp[12]: connect from unknown[192.0.2.1]",
            "Nov 26 09:46:24 mx postfix/smtpd[11]: disconnect from unknown[192.0.2.7] ehlo=1 quit=1 commands=2",
        ]);
        assert_eq!(out.len(), 3, "{out:#?}");
        assert_eq!(out[0].client_name, None);
        assert_eq!(out[0].local, None);
        assert_eq!(out[1].client_name.as_deref(), Some("mail-a1.example.com"));
        assert_eq!(out[1].client, ip("2001:db8::7"));
        assert_eq!(out[2].client, ip("192.0.2.9"));
    }

    #[test]
    fn other_instances_when_configured() {
        let mut c = ParserConfig::new("out");
        c.syslog_names = vec!["postfix-out".into(), "postfix/smtp-in".into()];
        let mut p = PostfixParser::new(c);
        let mut out = Vec::new();
        for l in [
            "Nov 26 09:46:24 mx postfix-out/smtpd[12]: connect from unknown[192.0.2.1]",
            "Nov 26 09:46:24 mx postfix/smtp-in/smtpd[12]: connect from unknown[192.0.2.2]",
            "Nov 26 09:46:24 mx postfix/smtpd[12]: connect from unknown[192.0.2.3]",
        ] {
            p.line(l, NOW, &mut out);
        }
        let got: Vec<IpAddr> = out.iter().map(|o| o.client).collect();
        assert_eq!(got, [ip("192.0.2.1"), ip("192.0.2.2")]);
    }

    #[test]
    fn accepted_message_joins_queue_lines() {
        let out = parse_all(&[
            "2026-11-26T09:46:24.000001+00:00 mx postfix/smtpd[11]: connect from mx.example.net[192.0.2.7]",
            "2026-11-26T09:46:25.000002+00:00 mx postfix/smtpd[11]: 4F2A31C0B12: client=mx.example.net[192.0.2.7]",
            "2026-11-26T09:46:25.000003+00:00 mx postfix/cleanup[13]: 4F2A31C0B12: message-id=<x@example.net>",
            "2026-11-26T09:46:25.000004+00:00 mx postfix/qmgr[14]: 4F2A31C0B12: from=<Alice.Smith@Example.NET>, size=1234, nrcpt=1 (queue active)",
            "2026-11-26T09:46:25.000005+00:00 mx postfix/qmgr[14]: 4F2A31C0B12: removed",
            // A second qmgr line for the same id (a deferred retry) adds nothing.
            "2026-11-26T09:46:26+00:00 mx postfix/qmgr[14]: 4F2A31C0B12: from=<a@example.net>, size=1234, nrcpt=1 (queue active)",
            // A local submission: no client= line, no observation.
            "2026-11-26T09:46:26+00:00 mx postfix/pickup[15]: 5A: uid=0 from=<root>",
            "2026-11-26T09:46:26+00:00 mx postfix/qmgr[14]: 5AB12: from=<root@mx>, size=1, nrcpt=1 (queue active)",
            // Bounce (null sender).
            "2026-11-26T09:46:27+00:00 mx postfix/smtpd[11]: 4Lx8yZ1abcz1234: client=unknown[192.0.2.8]",
            "2026-11-26T09:46:27+00:00 mx postfix/qmgr[14]: 4Lx8yZ1abcz1234: from=<>, size=99, nrcpt=1 (queue active)",
        ]);
        assert_eq!(out.len(), 3, "{out:#?}");
        let a = &out[1];
        assert_eq!(a.flags, Flags::ACCEPTED);
        assert_eq!(a.stage, Stage::Data);
        assert_eq!(a.client, ip("192.0.2.7"));
        assert_eq!(a.client_name.as_deref(), Some("mx.example.net"));
        assert_eq!(a.mail_domain.as_deref(), Some("example.net"));
        assert_eq!(a.at, NOW + 1_000_004, "the qmgr line's time");
        assert!(!format!("{a:?}").contains("Alice"), "no local part kept");
        assert_eq!(out[2].mail_domain, None);
        assert_eq!(out[2].flags, Flags::ACCEPTED);
    }

    #[test]
    fn rejects_give_stage_helo_and_domain() {
        let out = parse_all(&[
            "Nov 26 09:46:24 mx postfix/smtpd[11]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 <x@other.test>: Relay access denied; from=<spam@Bad.Example> to=<x@other.test> proto=ESMTP helo=<bot.example>",
            "Nov 26 09:46:24 mx postfix/smtpd[11]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown in virtual mailbox table; from=<> to=<nobody@example.test> proto=SMTP helo=<[192.0.2.7]>",
            "Nov 26 09:46:24 mx postfix/smtpd[11]: NOQUEUE: reject: CONNECT from unknown[192.0.2.7]: 421 4.3.2 Try again later; proto=SMTP",
            "Nov 26 09:46:24 mx postfix/postscreen[10]: CONNECT from [192.0.2.9]:7 to [198.51.100.99]:25",
            "Nov 26 09:46:24 mx postfix/postscreen[10]: NOQUEUE: reject: RCPT from [192.0.2.9]:7: 550 5.7.1 Service unavailable; client [192.0.2.9] blocked using zen.example; from=<a@b.example>, to=<c@d.example>, proto=ESMTP, helo=<x>",
        ]);
        assert_eq!(out.len(), 5, "{out:#?}");
        assert_eq!(out[0].stage, Stage::Rcpt);
        assert_eq!(out[0].helo.as_deref(), Some("bot.example"));
        assert_eq!(out[0].mail_domain.as_deref(), Some("bad.example"));
        assert!(out[0].flags.is_empty());
        assert_eq!(out[1].flags, Flags::BAD_RCPT);
        assert_eq!(out[1].helo.as_deref(), Some("[192.0.2.7]"));
        assert_eq!(out[1].mail_domain, None);
        assert_eq!(out[2].stage, Stage::Connect);
        assert_eq!(out[2].helo, None);
        assert_eq!(out[4].local, Some(ip("198.51.100.99")));
        assert_eq!(out[4].mail_domain.as_deref(), Some("b.example"));
        assert_eq!(out[4].helo.as_deref(), Some("x"));
    }

    #[test]
    fn journald_messages() {
        let mut p = PostfixParser::new(ParserConfig::new("j"));
        let mut out = Vec::new();
        assert!(p.message(
            NOW,
            "postfix/smtpd",
            "connect from unknown[192.0.2.1]",
            &mut out
        ));
        assert!(!p.message(
            NOW,
            "postfix/submission/smtpd",
            "connect from unknown[192.0.2.1]",
            &mut out
        ));
        assert!(!p.message(NOW, "postfix/smtpd", "lost connection after EHLO", &mut out));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].at, NOW);
    }

    #[test]
    fn queue_map_is_bounded() {
        let mut c = ParserConfig::new("b");
        c.queue_capacity = 3;
        let mut p = PostfixParser::new(c);
        let mut out = Vec::new();
        for i in 0..10 {
            p.message(
                NOW,
                "postfix/smtpd",
                &format!("ABCDE{i}: client=unknown[192.0.2.{i}]"),
                &mut out,
            );
        }
        assert_eq!(p.pending().0, 3);
        // The oldest were forgotten, the newest kept.
        p.message(
            NOW,
            "postfix/qmgr",
            "ABCDE0: from=<a@b.c>, size=1, nrcpt=1 (queue active)",
            &mut out,
        );
        p.message(
            NOW,
            "postfix/qmgr",
            "ABCDE9: from=<a@b.c>, size=1, nrcpt=1 (queue active)",
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].client, ip("192.0.2.9"));
        // Removals leave the order queue bounded too.
        for i in 0..100 {
            let id = format!("QQQQQ{i}");
            p.message(
                NOW,
                "postfix/smtpd",
                &format!("{id}: client=unknown[192.0.2.1]"),
                &mut out,
            );
            p.message(
                NOW,
                "postfix/qmgr",
                &format!("{id}: from=<>, size=1, nrcpt=1"),
                &mut out,
            );
        }
        assert!(p.queue.order.len() <= 6);
    }

    #[test]
    fn sender_domains() {
        assert_eq!(
            sender_domain("a@Example.ORG").as_deref(),
            Some("example.org")
        );
        assert_eq!(
            sender_domain("\"a@b\"@c.example.").as_deref(),
            Some("c.example")
        );
        assert_eq!(
            sender_domain("a@[192.0.2.1]").as_deref(),
            Some("[192.0.2.1]")
        );
        assert_eq!(sender_domain(""), None);
        assert_eq!(sender_domain("root"), None);
        assert_eq!(sender_domain("a@b c"), None);
    }
}

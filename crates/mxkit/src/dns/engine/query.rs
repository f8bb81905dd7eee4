//! The query state machine: one question asked of the servers in rounds
//! of UDP tries, with backoff and jitter, late replies to earlier tries
//! still accepted, and a TCP re-ask after a truncated reply.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{DNSClass, Name, RecordType};

use super::super::decode::Reply;
use super::super::{Response, Status, TempError};
use super::Inner;
use super::meter::Meter;
use super::pending::{Delivery, Registration};
use super::reply::{Verdict, verdict};

/// Largest query we ever build: header, a 255-octet name, type, class, OPT.
const MAX_QUERY_LEN: usize = 512;

/// Why a question cannot be written as a query.
#[derive(Debug, thiserror::Error)]
enum EncodeError {
    /// A label longer than 63 octets (RFC 1035 section 2.3.4): its length.
    #[error("label of {0} octets")]
    Label(usize),
    /// The query is longer than [`MAX_QUERY_LEN`]: its length.
    #[error("query of {0} bytes")]
    TooLong(usize),
}

/// Where and how one UDP try goes.
struct TryTo {
    server: SocketAddr,
    /// The round's wait ([`EngineConfig::try_timeout`](super::EngineConfig::try_timeout)), before jitter.
    wait: Duration,
    /// A resend of the question (sent at the head of the next burst).
    again: bool,
}

/// The outcome of one UDP try.
enum Try {
    /// A reply, and the server it came from (an earlier try's server when
    /// that reply came late).
    Reply(Reply, SocketAddr),
    Timeout {
        ignored: u32,
        last: Option<String>,
    },
    Network(TempError),
}

/// What kept a question from a final answer so far.
#[derive(Default)]
struct Failures {
    /// The last error rcode (a [`Verdict::Failed`] response).
    failed: Option<Response>,
    /// The last server whose answer stayed truncated (over TCP too, or TCP
    /// failed).
    truncated: Option<SocketAddr>,
    /// The last local network error.
    network: Option<TempError>,
    /// Some try timed out.
    timed_out: bool,
    /// Replies ignored by the tries that timed out, and why the last one was.
    ignored: u32,
    last_ignored: Option<String>,
}

impl Failures {
    fn timed_out(&mut self, ignored: u32, last: Option<String>) {
        self.timed_out = true;
        self.ignored = self.ignored.saturating_add(ignored);
        self.last_ignored = last.or(self.last_ignored.take());
    }

    /// The response of a question that got no final answer: truncated
    /// first, then an error rcode, then a network error when no try timed
    /// out, else a timeout.
    fn into_response(self, servers: &[SocketAddr]) -> Response {
        if let Some(server) = self.truncated {
            return Response::status(Status::Truncated, server.to_string());
        }
        if let Some(resp) = self.failed {
            return resp;
        }
        let servers_text = servers
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        match self.network {
            Some(e) if !self.timed_out => Response::status(Status::Temporary(e), servers_text),
            _ => Response::status(
                Status::Temporary(TempError::Timeout {
                    servers: servers_text.clone(),
                    ignored: self.ignored,
                    last_ignored: self.last_ignored,
                }),
                servers_text,
            ),
        }
    }
}

/// The servers that answered a question, by index: bits for up to 64
/// servers (no allocation per question), a list past that.
enum Answered {
    Bits { set: u64, all: u64 },
    Many(Vec<bool>),
}

impl Answered {
    fn new(servers: usize) -> Answered {
        match u32::try_from(servers) {
            Ok(n @ 0..=64) => Answered::Bits {
                set: 0,
                // The low `n` bits (none for no server).
                all: u64::MAX.checked_shr(64 - n).unwrap_or(0),
            },
            _ => Answered::Many(vec![false; servers]),
        }
    }

    fn has(&self, i: usize) -> bool {
        match self {
            Answered::Bits { set, .. } => i < 64 && set & (1 << i) != 0,
            Answered::Many(v) => v.get(i).copied().unwrap_or(false),
        }
    }

    fn set(&mut self, i: usize) {
        match self {
            Answered::Bits { set, .. } if i < 64 => *set |= 1 << i,
            Answered::Bits { .. } => {}
            Answered::Many(v) => {
                if let Some(a) = v.get_mut(i) {
                    *a = true;
                }
            }
        }
    }

    fn all(&self) -> bool {
        match self {
            Answered::Bits { set, all } => set == all,
            Answered::Many(v) => v.iter().all(|a| *a),
        }
    }
}

/// The response to a question that cannot be written as a query.
fn unencodable(name: &Name, reason: &EncodeError) -> Response {
    Response::status(
        Status::Temporary(TempError::Malformed {
            server: "(query not sent)".to_owned(),
            reason: format!("cannot encode the query for {name}: {reason}"),
        }),
        "",
    )
}

impl Inner {
    /// Build the query with ID 0; each try writes its own ID into bytes 0..2.
    ///
    /// Written by hand (the same octets as hickory's encoder, see the
    /// tests): a header with RD (as configured) and AD (RFC 6840 section
    /// 5.7: asks the resolver to report whether it validated the answer),
    /// the question as given (case kept), and an OPT record with the
    /// configured payload size (RFC 6891 section 6.1.2; values below 512
    /// are sent as 512, section 6.2.5), version 0, and the DO flag when
    /// configured (RFC 3225 section 3).
    ///
    /// Written on the stack and allocated once, shared: the first try
    /// writes its ID into it in place (`Channel::register`).
    fn encode(&self, name: &Name, rtype: RecordType) -> Result<Arc<[u8]>, EncodeError> {
        let mut wire = [0u8; MAX_QUERY_LEN];
        let mut len = 0;
        let mut put = |bytes: &[u8]| match wire.get_mut(len..len + bytes.len()) {
            Some(room) => {
                room.copy_from_slice(bytes);
                len += bytes.len();
                Ok(())
            }
            None => Err(EncodeError::TooLong(len + bytes.len())),
        };
        let flags: u16 = if self.cfg.recursion_desired {
            0x0100
        } else {
            0
        } | 0x0020;
        put(&[0, 0])?;
        put(&flags.to_be_bytes())?;
        put(&[0, 1, 0, 0, 0, 0, 0, 1])?;
        for label in name.iter() {
            let size = u8::try_from(label.len())
                .ok()
                .filter(|l| *l <= 63)
                .ok_or(EncodeError::Label(label.len()))?;
            put(&[size])?;
            put(label)?;
        }
        put(&[0])?;
        put(&u16::from(rtype).to_be_bytes())?;
        put(&u16::from(DNSClass::IN).to_be_bytes())?;
        // OPT: root owner, type 41, class = payload, TTL (extended rcode 0,
        // version 0, flags: DO is the top bit), no data.
        put(&[0])?;
        put(&u16::from(RecordType::OPT).to_be_bytes())?;
        put(&self.cfg.edns_payload.max(512).to_be_bytes())?;
        let flags: u16 = if self.cfg.dnssec_ok { 0x8000 } else { 0 };
        put(&[0, 0])?;
        put(&flags.to_be_bytes())?;
        put(&[0, 0])?;
        Ok(Arc::from(&wire[..len]))
    }

    pub(super) async fn ask(&self, name: &Name, rtype: RecordType) -> Response {
        // Asked as an absolute name; copied only when it is not one already
        // (routing's names all are).
        let name: std::borrow::Cow<'_, Name> = if name.is_fqdn() {
            std::borrow::Cow::Borrowed(name)
        } else {
            let mut absolute = name.clone();
            absolute.set_fqdn(true);
            std::borrow::Cow::Owned(absolute)
        };
        let name = &*name;
        let mut wire = match self.encode(name, rtype) {
            Ok(w) => w,
            Err(reason) => return unencodable(name, &reason),
        };
        let servers = &self.cfg.servers;
        // A server that answered (with an error rcode, or truncated with no
        // TCP answer) is not asked again; rounds are for lost packets.
        let mut answered = Answered::new(servers.len());
        let mut failures = Failures::default();
        let mut tries = 0u32;
        // Earlier tries stay registered until the question is answered: a
        // reply that comes after its try timed out (a slow server) still
        // answers the question while a later try waits.
        let mut earlier: Vec<Registration<'_>> = Vec::new();
        Meter::add(&self.meter.questions);
        for round in 0..self.cfg.attempts.max(1) {
            let wait = self.cfg.try_timeout(round);
            for (i, &server) in servers.iter().enumerate() {
                if answered.has(i) {
                    continue;
                }
                if tries > 0 {
                    Meter::add(&self.meter.resends);
                }
                tries += 1;
                let (msg, i, server) = match self
                    .udp_try(
                        &mut wire,
                        name,
                        rtype,
                        TryTo {
                            server,
                            wait,
                            again: tries > 1,
                        },
                        &mut earlier,
                    )
                    .await
                {
                    Try::Reply(msg, from) => {
                        self.meter.replied();
                        let i = servers.iter().position(|s| *s == from).unwrap_or(i);
                        (msg, i, from)
                    }
                    Try::Timeout { ignored, last } => {
                        Meter::add(&self.meter.timeouts);
                        failures.timed_out(ignored, last);
                        continue;
                    }
                    Try::Network(e) => {
                        Meter::add(&self.meter.network_errors);
                        failures.network = Some(e);
                        continue;
                    }
                };
                let msg = if msg.metadata.truncation {
                    // Boxed: the TCP exchange is rare and large, and would
                    // otherwise grow every question's future.
                    match Box::pin(self.after_truncation(super::tcp::Ask {
                        wire: &wire,
                        name,
                        rtype,
                        server,
                    }))
                    .await
                    {
                        Some(full) => full,
                        None => {
                            failures.truncated = Some(server);
                            answered.set(i);
                            continue;
                        }
                    }
                } else {
                    msg
                };
                match verdict(msg, self.server_texts[i].clone()) {
                    Verdict::Final(resp) => return resp,
                    Verdict::Failed(resp) => {
                        Meter::add(&self.meter.error_rcodes);
                        failures.failed = Some(resp);
                        answered.set(i);
                    }
                }
            }
            if answered.all() {
                break;
            }
        }
        failures.into_response(servers)
    }

    /// Send the query over UDP as `to` says and wait for an acceptable reply.
    async fn udp_try<'s>(
        &'s self,
        wire: &mut Arc<[u8]>,
        name: &Name,
        rtype: RecordType,
        to: TryTo,
        earlier: &mut Vec<Registration<'s>>,
    ) -> Try {
        let TryTo {
            server,
            wait,
            again,
        } = to;
        let network = |reason: String| {
            Try::Network(TempError::Network {
                server: server.to_string(),
                reason,
            })
        };
        let Some(channel) = self.channel(server) else {
            return network("no socket for its address family".to_owned());
        };
        let Some((mut reg, packet)) = channel.register(name, rtype, server, wire) else {
            return network("no free query ID (too many queries in flight)".to_owned());
        };
        let wait = reg.wait(wait);
        if let Some(pacer) = &self.pacer {
            Box::pin(pacer.wait()).await;
        }
        Meter::add(&self.meter.queries);
        let mark = self.tallies.mark(server);
        channel.queue(packet, server, again);
        // This try's reply, or a late one to an earlier try of the question.
        let waited = if earlier.iter().all(|e| e.reply.is_terminated()) {
            // The common case: no earlier try is waiting.
            match tokio::time::timeout(wait, &mut reg.reply).await {
                Ok(Ok(delivery)) => Some((delivery, server)),
                // The sender is only dropped with the entry; treat as no reply.
                Ok(Err(_)) | Err(_) => None,
            }
        } else {
            let waits: Vec<_> = std::iter::once((server, &mut reg.reply))
                .chain(earlier.iter_mut().map(|e| (e.key.1, &mut e.reply)))
                .filter(|(_, r)| !r.is_terminated())
                .map(|(from, r)| Box::pin(async move { (r.await, from) }))
                .collect();
            let first = async {
                let mut waits = waits;
                loop {
                    let ((delivery, from), _, rest) = futures::future::select_all(waits).await;
                    match delivery {
                        Ok(Delivery::Reply(msg)) => return Some((Delivery::Reply(msg), from)),
                        Ok(Delivery::SendFailed(why)) if from == server => {
                            return Some((Delivery::SendFailed(why), from));
                        }
                        // An earlier try's send failure or a dropped entry:
                        // that wait is over, the others go on.
                        _ if rest.is_empty() => return None,
                        _ => waits = rest,
                    }
                }
            };
            // Boxed: rare (a try timed out before), and larger than the
            // common case; inline it would grow every question's future.
            Box::pin(tokio::time::timeout(wait, first))
                .await
                .ok()
                .flatten()
        };
        match waited {
            Some((Delivery::Reply(msg), from)) => Try::Reply(msg, from),
            Some((Delivery::SendFailed(why), _)) => network(why),
            None => {
                let (n, last) = self.tallies.since(mark);
                let (own_n, own_last) = reg.take_ignored();
                earlier.push(reg);
                Try::Timeout {
                    ignored: n.saturating_add(own_n),
                    last: own_last.or(last),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Arc, Mutex};

    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use tokio::sync::Semaphore;

    use super::super::meter::Tallies;
    use super::super::{EngineConfig, TCP_CONNECTIONS};

    /// An engine's shared part without sockets or tasks: enough to encode.
    fn socketless(cfg: EngineConfig) -> Inner {
        Inner {
            cfg,
            v4: Vec::new(),
            v6: Vec::new(),
            next: AtomicUsize::new(0),
            tallies: Arc::new(Tallies::new(&[])),
            tasks: Vec::new(),
            meter: Meter::new(),
            pacer: None,
            tcp_slots: Semaphore::new(TCP_CONNECTIONS),
            tcp_idle: Mutex::new(Vec::new()),
            server_texts: Vec::new(),
        }
    }

    /// The answered servers, as bits and as a list: none, some, all.
    #[test]
    fn answered_servers_as_bits_and_as_list() {
        for n in [1, 2, 63, 64, 65, 200] {
            let mut a = Answered::new(n);
            assert_eq!(matches!(a, Answered::Bits { .. }), n <= 64);
            assert!(!a.all() && !a.has(0) && !a.has(n - 1));
            for i in 0..n {
                assert!(!a.all(), "{i} of {n}");
                a.set(i);
                assert!(a.has(i));
            }
            assert!(a.all(), "all {n}");
        }
    }

    #[test]
    fn query_sets_rd_ad_and_edns_payload() {
        let inner = socketless(EngineConfig::new(vec![SocketAddr::from((
            [127, 0, 0, 1],
            53,
        ))]));
        let name = Name::from_ascii("Example.ORG.").unwrap();
        let wire = inner.encode(&name, RecordType::MX).unwrap();
        let msg = Message::from_vec(&wire).unwrap();
        assert!(msg.metadata.recursion_desired);
        assert!(msg.metadata.authentic_data, "RFC 6840 section 5.7");
        assert_eq!(msg.edns.as_ref().map(Edns::max_payload), Some(1232));
        assert_eq!(msg.queries.len(), 1);
        assert_eq!(msg.queries[0].query_type, RecordType::MX);
        assert_eq!(msg.queries[0].query_class, DNSClass::IN);
    }

    /// The hand-written query is octet for octet what hickory's encoder makes.
    #[test]
    fn query_encoding_matches_hickory() {
        for (rd, payload, dnssec_ok) in [
            (true, 1232u16, false),
            (false, 4096, false),
            (true, 100, false),
            (true, 1232, true),
        ] {
            let mut cfg = EngineConfig::new(vec![SocketAddr::from(([127, 0, 0, 1], 53))]);
            cfg.recursion_desired = rd;
            cfg.edns_payload = payload;
            cfg.dnssec_ok = dnssec_ok;
            let inner = socketless(cfg);
            for (text, rtype) in [
                ("Example.ORG.", RecordType::MX),
                ("xn--bcher-kva.example.", RecordType::AAAA),
                (".", RecordType::A),
            ] {
                let name = Name::from_ascii(text).unwrap();
                let mut msg = Message::new(0, MessageType::Query, OpCode::Query);
                msg.metadata.recursion_desired = rd;
                msg.metadata.authentic_data = true;
                msg.add_query(Query::query(name.clone(), rtype));
                let mut edns = Edns::new();
                edns.set_max_payload(payload.max(512));
                edns.set_version(0);
                edns.set_dnssec_ok(dnssec_ok);
                msg.set_edns(edns);
                assert_eq!(
                    &*inner.encode(&name, rtype).unwrap(),
                    &msg.to_vec().unwrap()[..],
                    "{text} {rtype} rd={rd} payload={payload} do={dnssec_ok}"
                );
            }
        }
    }
}

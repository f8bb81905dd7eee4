//! Channels: one UDP socket each, shared by many queries in flight, with
//! its pending table, its outbox, and its two tasks (the receive task and
//! the send task, both batching system calls through `mmsg`).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hickory_proto::rr::{Name, RecordType};
use rand::RngExt;
use rand::rngs::StdRng;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, oneshot};

use super::super::decode;
use super::meter::Tallies;
use super::mmsg;
use super::pending::{Delivery, ID_DRAWS, Pending, Registration, Table};
use super::reply::{ReplyError, accept, accept_asked};

/// Kernel send and receive buffer asked for each UDP socket (8 MiB: see the
/// engine's module documentation).
const UDP_BUFFER: usize = 8 << 20;
/// Packets the send task sends before it yields to the other tasks.
const SEND_BURST: usize = mmsg::MAX_PACKETS;

/// One UDP socket and the queries waiting on it.
pub(super) struct Channel {
    pub(super) socket: UdpSocket,
    table: Mutex<Table>,
    /// Queries waiting for the channel's send task.
    outbox: Mutex<Outbox>,
    /// Wakes the send task when the outbox gets its first query.
    wake_sender: Notify,
}

/// The packets waiting to be sent: resends leave first, at the head of the
/// burst, where a server's full receive buffer does not drop them (a packet
/// lost once is likely to be lost again if it always lands at the tail of a
/// burst).
#[derive(Default)]
struct Outbox {
    again: Vec<Outgoing>,
    first: Vec<Outgoing>,
}

/// One query on its way out: its packet (with its ID) and where to.
struct Outgoing {
    packet: Arc<[u8]>,
    to: SocketAddr,
}

impl Channel {
    pub(super) fn new(socket: UdpSocket, rng: StdRng) -> Self {
        Channel {
            socket,
            table: Mutex::new(Table {
                pending: HashMap::default(),
                rng,
            }),
            outbox: Mutex::new(Outbox::default()),
            wake_sender: Notify::new(),
        }
    }

    /// Hand a packet to the send task. Queries made while the task that
    /// makes them runs leave together when it yields: a burst keeps the
    /// server busy instead of waking it once per packet (on loopback, each
    /// wake-up cost the client about a tenth of its time).
    pub(super) fn queue(&self, packet: Arc<[u8]>, to: SocketAddr, again: bool) {
        let first = {
            let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
            let was_empty = outbox.again.is_empty() && outbox.first.is_empty();
            let out = Outgoing { packet, to };
            if again {
                outbox.again.push(out);
            } else {
                outbox.first.push(out);
            }
            was_empty
        };
        if first {
            self.wake_sender.notify_one();
        }
    }

    /// Tell the query waiting on (`id`, `to`) that its packet could not be sent.
    fn fail(&self, packet: &[u8], to: SocketAddr, why: String) {
        let Some(id) = packet.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return;
        };
        let mut table = self.lock();
        if let Some(tx) = table
            .pending
            .get_mut(&(id, to))
            .and_then(|p| p.reply.take())
        {
            let _ = tx.send(Delivery::SendFailed(why));
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Draw a fresh ID for `server`, write it into the query `wire` (the
    /// question `name` / `rtype`), and register the query under it; the
    /// datagram to [`queue`](Self::queue) comes back with the registration.
    /// The ID is written in place when nobody else holds `wire` (a
    /// question's first try); else into a copy, which `wire` becomes (an
    /// earlier try's datagram keeps its own ID).
    pub(super) fn register(
        &self,
        name: &Name,
        rtype: RecordType,
        server: SocketAddr,
        wire: &mut Arc<[u8]>,
    ) -> Option<(Registration<'_>, Arc<[u8]>)> {
        let mut table = self.lock();
        for _ in 0..ID_DRAWS {
            // One draw for both: the ID (RFC 5452 section 4.3: random) and
            // the jitter of the try's wait.
            let draw: u32 = table.rng.random();
            let [a, b, c, d] = draw.to_be_bytes();
            let (id, jitter) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
            if let Entry::Vacant(slot) = table.pending.entry((id, server)) {
                let (tx, rx) = oneshot::channel();
                // Copy on write: in place when `wire` is not shared.
                if let Some(at) = Arc::make_mut(wire).get_mut(..2) {
                    at.copy_from_slice(&id.to_be_bytes());
                }
                let sent = Arc::clone(wire);
                slot.insert(Pending {
                    name: name.clone(),
                    rtype,
                    sent: Arc::clone(&sent),
                    reply: Some(tx),
                    ignored: 0,
                    last_ignored: None,
                });
                let reg = Registration {
                    channel: self,
                    key: (id, server),
                    reply: rx,
                    jitter,
                    removed: false,
                };
                return Some((reg, sent));
            }
        }
        None
    }

    /// Route one received datagram to the query it answers, or count it as ignored.
    pub(super) fn dispatch(&self, packet: &[u8], from: SocketAddr, tallies: &Tallies) {
        let Some(id) = packet.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            tallies.ignore(
                from,
                format!("undecodable: {} byte(s) from {from}", packet.len()),
            );
            return;
        };
        // Cheap checks first: a reply nobody waits for is not decoded at all.
        // The rest under the table's lock, taken once: a channel belongs to
        // one engine, whose queries (in a scan, on one thread) are the only
        // ones to take it, and a reply is decoded in microseconds.
        let mut table = self.lock();
        if let Some(pending) = table.pending.get_mut(&(id, from)) {
            let read = decode::read_asked(packet, &pending.sent, &pending.name, pending.rtype)
                .map_err(ReplyError::Undecodable)
                .and_then(|(msg, asked)| {
                    if asked {
                        accept_asked(msg)
                    } else {
                        accept(msg, &pending.name, pending.rtype)
                    }
                });
            match read {
                Err(why) => pending.ignore(format!("{why} from {from}")),
                Ok(msg) => {
                    // The entry stays until the query's registration removes
                    // it: only the owner removes an entry, so its (ID,
                    // server) cannot be drawn by another query and then
                    // removed under it. A duplicate of the reply finds no
                    // sender and is dropped.
                    if let Some(tx) = pending.reply.take() {
                        // The receiver is gone only if the query was dropped meanwhile.
                        let _ = tx.send(Delivery::Reply(msg));
                    }
                }
            }
            return;
        }
        let asked = tallies
            .servers
            .iter()
            .copied()
            .find(|s| *s != from && table.pending.contains_key(&(id, *s)));
        match asked.and_then(|s| table.pending.get_mut(&(id, s))) {
            Some(p) => p.ignore(format!(
                "reply from unexpected address {from} (asked {})",
                asked.map(|s| s.to_string()).unwrap_or_default()
            )),
            None => {
                drop(table);
                tallies.ignore(from, format!("wrong ID {id} from {from}"));
            }
        }
    }
}

/// Bind a UDP socket with large kernel buffers, so that bursts of replies
/// are not dropped before the receive task reads them.
pub(super) fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // The kernel caps these at net.core.rmem_max / wmem_max; a smaller
    // buffer than asked is not an error.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER);
    let _ = socket.set_send_buffer_size(UDP_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Receive datagrams on one channel forever (until the engine is dropped),
/// a batch per system call (`mmsg`).
pub(super) async fn receive(channel: Arc<Channel>, tallies: Arc<Tallies>) {
    // Each slot is larger than any UDP payload, so nothing is cut short by us.
    let mut bufs = mmsg::RecvBuffers::new();
    loop {
        if let Err(e) = channel.socket.readable().await {
            tracing::debug!("DNS socket receive error: {e}");
            tokio::task::yield_now().await;
            continue;
        }
        match mmsg::recv(&channel.socket, &mut bufs) {
            Ok(n) => {
                for i in 0..n {
                    match bufs.get(i) {
                        (packet, Some(from)) => channel.dispatch(packet, from, &tallies),
                        (_, None) => tracing::debug!("datagram from an unreadable address"),
                    }
                }
                if n == mmsg::BATCH {
                    // More may be waiting: let the queries just answered run first.
                    tokio::task::yield_now().await;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                // Unconnected UDP sockets report ICMP errors on some systems;
                // none of them concerns a single query. Yield so that a
                // persistent error cannot spin the runtime.
                tracing::debug!("DNS socket receive error: {e}");
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Send what the channel's queries queue, in order, until the engine is
/// dropped. A full socket buffer waits for room; any other error is handed
/// to the query whose packet it was.
pub(super) async fn send(channel: Arc<Channel>) {
    let mut batch = Outbox::default();
    let mut sender = mmsg::Sender::new(&channel.socket);
    loop {
        channel.wake_sender.notified().await;
        loop {
            {
                let mut outbox = channel
                    .outbox
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                std::mem::swap(&mut *outbox, &mut batch);
            }
            if batch.again.is_empty() && batch.first.is_empty() {
                break;
            }
            // Resends stay ahead of first tries.
            let mut burst: Vec<Outgoing> =
                batch.again.drain(..).chain(batch.first.drain(..)).collect();
            // Packets for the same server of the same length side by side:
            // they leave as one segmented send (`mmsg`). Sorted within
            // each system call's share only: sorting the whole burst by
            // length would put the longest names at its tail every time,
            // where a server's full receive buffer drops them, try after
            // try.
            for chunk in burst.chunks_mut(mmsg::MAX_PACKETS) {
                chunk.sort_by_key(|o| (o.to, o.packet.len()));
            }
            let packets: Vec<(&[u8], SocketAddr)> =
                burst.iter().map(|o| (&*o.packet, o.to)).collect();
            let mut sent = 0;
            let mut since_yield = 0;
            while sent < packets.len() {
                // A long burst yields now and then, so that replies are
                // read (and the server's queue drained) in between.
                if since_yield >= SEND_BURST {
                    since_yield = 0;
                    tokio::task::yield_now().await;
                }
                match sender.send(&channel.socket, &packets[sent..]) {
                    Ok(n) => {
                        sent += n.max(1);
                        since_yield += n.max(1);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if let Err(e) = channel.socket.writable().await {
                            let out = &burst[sent];
                            channel.fail(&out.packet, out.to, e.to_string());
                            sent += 1;
                        }
                    }
                    Err(e) => {
                        // The first packet's error: its query hears of it;
                        // the rest go on.
                        let out = &burst[sent];
                        channel.fail(&out.packet, out.to, e.to_string());
                        sent += 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, OpCode, Query};
    use rand::SeedableRng;
    use std::net::Ipv4Addr;

    /// A channel on a loopback socket (its IDs drawn from `seed`), a server
    /// address and a question name.
    fn setup(seed: u64) -> (Channel, SocketAddr, Name) {
        let channel = Channel::new(
            bind_udp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap(),
            StdRng::seed_from_u64(seed),
        );
        let server = SocketAddr::from((Ipv4Addr::LOCALHOST, 53));
        (channel, server, Name::from_ascii("example.").unwrap())
    }

    /// Regression: an answered query's entry used to be removed by the
    /// receive task; another query could then draw the same (ID, server) and
    /// have it removed under it by the first query's registration.
    #[tokio::test]
    async fn an_answered_entry_is_removed_only_by_its_owner() {
        let (channel, server, name) = setup(1);
        let tallies = Tallies::new(&[server]);
        let mut wire: Arc<[u8]> = Arc::from([0u8; 12].as_slice());
        let (mut reg, _) = channel
            .register(&name, RecordType::A, server, &mut wire)
            .unwrap();
        let mut reply = Message::response(reg.id(), OpCode::Query);
        reply.add_query(Query::query(name.clone(), RecordType::A));
        let reply = reply.to_vec().unwrap();
        channel.dispatch(&reply, server, &tallies);
        assert!(reg.reply.try_recv().is_ok(), "the reply was delivered");
        assert_eq!(channel.lock().pending.len(), 1, "the key stays taken");
        // A duplicate of the reply finds no sender: dropped, no panic.
        channel.dispatch(&reply, server, &tallies);
        drop(reg);
        assert!(channel.lock().pending.is_empty(), "the owner removed it");
    }

    /// A question's first try writes its ID into the encoded query itself;
    /// a second try, while the first's datagram is still held, gets a copy
    /// with its own ID and leaves the first's as it was sent.
    #[tokio::test]
    async fn a_try_writes_its_id_in_place_or_into_a_copy() {
        let (channel, server, name) = setup(7);
        let mut wire: Arc<[u8]> = Arc::from([0u8, 0, 1, 2, 3, 4].as_slice());
        let first = Arc::as_ptr(&wire);
        let (one, sent_one) = channel
            .register(&name, RecordType::A, server, &mut wire)
            .unwrap();
        assert_eq!(Arc::as_ptr(&sent_one), first, "no copy for the first try");
        assert_eq!(sent_one[..2], one.key.0.to_be_bytes());
        let (two, sent_two) = channel
            .register(&name, RecordType::A, server, &mut wire)
            .unwrap();
        assert_ne!(Arc::as_ptr(&sent_two), first, "the second try is a copy");
        assert!(
            Arc::ptr_eq(&wire, &sent_two),
            "the copy is the question's query now"
        );
        assert_eq!(sent_two[..2], two.key.0.to_be_bytes());
        assert_eq!(
            sent_one[..2],
            one.key.0.to_be_bytes(),
            "the first is as sent"
        );
        assert_eq!(sent_one[2..], sent_two[2..]);
        assert_ne!(one.key.0, two.key.0);
    }
}

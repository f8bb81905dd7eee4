//! Batched UDP system calls: `recvmmsg(2)` and `sendmmsg(2)` (Linux), so
//! that a burst of replies is read, and a burst of queries sent, with one
//! system call per [`BATCH`] datagrams instead of one per datagram. On
//! other systems the same functions fall back to one `recv_from` /
//! `send_to` per datagram.
//!
//! Sending also uses UDP segmentation offload where the kernel has it
//! (`UDP_SEGMENT`, Linux 4.18, see udp(7)): a run of datagrams with the same
//! destination and the same length leaves as one segmented datagram that
//! the network stack carries whole and cuts into the separate datagrams
//! only at the end (the receiving socket on loopback, the NIC or the
//! driver otherwise). The receiver sees ordinary datagrams. The IP layer
//! then runs once per run instead of once per datagram: on loopback, where
//! the sender also pays for the delivery to the server's socket, this
//! halved the client's kernel time in `scan` (QUIC stacks use it for the
//! same reason). [`Sender`] keeps whether it works: a kernel or device that
//! refuses it once gets plain datagrams from then on.
//!
//! The only unsafe code of the engine lives here, in functions that hand
//! the kernel pointers into buffers they own for the duration of the call.

use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

/// Datagrams per system call.
pub(crate) const BATCH: usize = 32;
/// Room for one datagram: the largest UDP payload, so nothing is cut short.
const SLOT: usize = 65_536;

/// Receive buffers for [`recv`]: [`BATCH`] slots of [`SLOT`] octets (the
/// pages are only touched as far as datagrams fill them).
pub(crate) struct RecvBuffers {
    data: Vec<u8>,
    lens: [usize; BATCH],
    from: [Option<SocketAddr>; BATCH],
}

impl RecvBuffers {
    pub(crate) fn new() -> Self {
        RecvBuffers {
            data: vec![0; BATCH * SLOT],
            lens: [0; BATCH],
            from: [None; BATCH],
        }
    }

    /// Datagram `i` of the last [`recv`] and its sender (`None` when the
    /// sender's address could not be read).
    pub(crate) fn get(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        (&self.data[i * SLOT..i * SLOT + self.lens[i]], self.from[i])
    }
}

/// Read the datagrams waiting on `socket` (at most [`BATCH`]) without
/// blocking; `WouldBlock` when there is none (tokio's readiness is then
/// cleared, so the caller may await `readable()`).
pub(crate) fn recv(socket: &UdpSocket, bufs: &mut RecvBuffers) -> io::Result<usize> {
    socket.try_io(tokio::io::Interest::READABLE, || sys::recv(socket, bufs))
}

/// Most datagrams handed to one [`Sender::send`] call: [`BATCH`] messages,
/// each a run of up to [`MAX_SEGMENTS`] datagrams.
pub(crate) const MAX_PACKETS: usize = 256;
/// Most datagrams in one segmented send (the kernel's `UDP_MAX_SEGMENTS`
/// is 64 since Linux 4.18, more in later kernels: the kernel refuses more).
const MAX_SEGMENTS: usize = 64;
/// Most octets in one segmented send: one IP datagram's payload, less the
/// UDP header.
const MAX_SEGMENTED_LEN: usize = 65_000;

/// Sends datagrams on one socket, segmented while the kernel allows it.
pub(crate) struct Sender {
    segment: bool,
}

impl Sender {
    /// A sender for `socket`: segmented sends if the kernel knows the
    /// `UDP_SEGMENT` option (it can still turn out that the route's device
    /// refuses it, see [`Sender::send`]).
    pub(crate) fn new(socket: &UdpSocket) -> Self {
        Sender {
            segment: sys::can_segment(socket),
        }
    }

    /// Send `packets` (each with its destination) without blocking: the
    /// number sent from the front (at least 1), or the error of the first
    /// one (`WouldBlock` when the socket's buffer is full). At most
    /// [`MAX_PACKETS`] are looked at. Runs of packets with the same
    /// destination and length (callers sort to make them long) leave as
    /// segmented sends; when the kernel refuses one, segmentation is off
    /// for good and the packets go again one by one.
    pub(crate) fn send(
        &mut self,
        socket: &UdpSocket,
        packets: &[(&[u8], SocketAddr)],
    ) -> io::Result<usize> {
        if packets.is_empty() {
            return Ok(0);
        }
        let packets = &packets[..packets.len().min(MAX_PACKETS)];
        socket.try_io(tokio::io::Interest::WRITABLE, || {
            if self.segment {
                match sys::send(socket, packets, true) {
                    // EIO: the device cannot checksum segments (udp(7));
                    // EINVAL: the kernel's segment limits differ from ours.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EIO | libc::EINVAL)) => {
                        tracing::debug!(
                            "UDP segmentation refused ({e}): sending datagrams one by one"
                        );
                        self.segment = false;
                    }
                    other => return other,
                }
            }
            sys::send(socket, packets, false)
        })
    }

    /// Whether sends are segmented (for tests).
    #[cfg(test)]
    pub(crate) fn segments(&self) -> bool {
        self.segment
    }
}

/// The runs `packets` splits into (start, end): consecutive packets with the
/// same destination and the same length, within the kernel's limits; every
/// packet its own run when `segment` is false. At most [`BATCH`] runs.
fn runs(
    packets: &[(&[u8], SocketAddr)],
    segment: bool,
    out: &mut [(usize, usize); BATCH],
) -> usize {
    let mut n = 0;
    let mut start = 0;
    while start < packets.len() && n < BATCH {
        let (first, to) = packets[start];
        let mut end = start + 1;
        if segment {
            while end < packets.len()
                && end - start < MAX_SEGMENTS
                && (end - start + 1) * first.len() <= MAX_SEGMENTED_LEN
                && packets[end].1 == to
                && packets[end].0.len() == first.len()
            {
                end += 1;
            }
        }
        out[n] = (start, end);
        n += 1;
        start = end;
    }
    n
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod sys {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    use socket2::SockAddr;
    use tokio::net::UdpSocket;

    use super::{BATCH, MAX_PACKETS, RecvBuffers, SLOT};

    pub(super) fn recv(socket: &UdpSocket, bufs: &mut RecvBuffers) -> io::Result<usize> {
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
        let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, chunk) in bufs.data.chunks_exact_mut(SLOT).enumerate() {
            iovs[i] = libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: SLOT,
            };
            hdrs[i].msg_hdr.msg_name = (&raw mut addrs[i]).cast();
            hdrs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdrs[i].msg_hdr.msg_iov = &raw mut iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at its own iovec and address slot,
        // and every iovec at its own SLOT octets of `bufs.data`; all of them
        // outlive the call, and the kernel writes at most the lengths given.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for i in 0..n {
            bufs.lens[i] = (hdrs[i].msg_len as usize).min(SLOT);
            bufs.from[i] = address(&addrs[i], hdrs[i].msg_hdr.msg_namelen);
        }
        Ok(n)
    }

    /// The sender's address as the kernel wrote it.
    fn address(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
        let len = len as usize;
        match libc::c_int::from(storage.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in,
                // and sockaddr_storage is aligned for every address type.
                let a = unsafe { &*(std::ptr::from_ref(storage).cast::<libc::sockaddr_in>()) };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let a = unsafe { &*(std::ptr::from_ref(storage).cast::<libc::sockaddr_in6>()) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(a.sin6_addr.s6_addr),
                    u16::from_be(a.sin6_port),
                    u32::from_be(a.sin6_flowinfo),
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// Whether the kernel knows `UDP_SEGMENT` (Linux 4.18).
    pub(super) fn can_segment(socket: &UdpSocket) -> bool {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `len` octets into `value`.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                (&raw mut value).cast(),
                &raw mut len,
            )
        };
        rc == 0
    }

    /// Room for one control message carrying a `u16` (`CMSG_SPACE(2)` is
    /// 24 on 64-bit Linux); `u64`s for the alignment of `cmsghdr`.
    const CONTROL_WORDS: usize = 4;

    pub(super) fn send(
        socket: &UdpSocket,
        packets: &[(&[u8], SocketAddr)],
        segment: bool,
    ) -> io::Result<usize> {
        let mut runs = [(0, 0); BATCH];
        let count = super::runs(packets, segment, &mut runs);
        let runs = &runs[..count];
        let addrs: [Option<SockAddr>; BATCH] = std::array::from_fn(|i| {
            runs.get(i)
                .map(|(start, _)| SockAddr::from(packets[*start].1))
        });
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut iovs: [libc::iovec; MAX_PACKETS] = unsafe { zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let mut control = [[0u64; CONTROL_WORDS]; BATCH];
        for (iov, (packet, _)) in iovs.iter_mut().zip(packets) {
            *iov = libc::iovec {
                iov_base: packet.as_ptr().cast_mut().cast(),
                iov_len: packet.len(),
            };
        }
        for (i, &(start, end)) in runs.iter().enumerate() {
            let Some(addr) = &addrs[i] else { continue };
            let hdr = &mut hdrs[i].msg_hdr;
            hdr.msg_name = addr.as_ptr().cast_mut().cast();
            hdr.msg_namelen = addr.len();
            hdr.msg_iov = &raw mut iovs[start];
            hdr.msg_iovlen = end - start;
            if end - start > 1 {
                // Every datagram of the run has this length (`runs`), and
                // MAX_SEGMENTED_LEN keeps it below 2^16.
                let size = packets[start].0.len() as u16;
                hdr.msg_control = control[i].as_mut_ptr().cast();
                hdr.msg_controllen = size_of::<[u64; CONTROL_WORDS]>() as _;
                // SAFETY: the header's control buffer is ours, aligned for
                // cmsghdr and CONTROL_WORDS * 8 octets long, which holds
                // CMSG_SPACE(2); CMSG_FIRSTHDR is non-null for a buffer that
                // large, and CMSG_DATA points at 2 octets inside it.
                unsafe {
                    let space = libc::CMSG_SPACE(size_of::<u16>() as u32) as usize;
                    debug_assert!(space <= size_of::<[u64; CONTROL_WORDS]>());
                    hdr.msg_controllen = space as _;
                    let cmsg = libc::CMSG_FIRSTHDR(hdr);
                    (*cmsg).cmsg_level = libc::SOL_UDP;
                    (*cmsg).cmsg_type = libc::UDP_SEGMENT;
                    (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
                    std::ptr::copy_nonoverlapping(
                        size.to_ne_bytes().as_ptr(),
                        libc::CMSG_DATA(cmsg),
                        size_of::<u16>(),
                    );
                }
            }
        }
        // SAFETY: every header points at its destination address, its own
        // run of iovecs (each at a packet) and its own control buffer; all
        // of them outlive the call, and the kernel only reads them
        // (sendmmsg writes msg_len alone).
        let n = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                hdrs.as_mut_ptr(),
                runs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // The packets of the runs sent (sendmmsg sends at least one when it
        // does not fail).
        Ok(runs[..(n as usize).clamp(1, runs.len())]
            .last()
            .map_or(1, |r| r.1))
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;
    use std::net::SocketAddr;

    use tokio::net::UdpSocket;

    use super::{RecvBuffers, SLOT};

    pub(super) fn recv(socket: &UdpSocket, bufs: &mut RecvBuffers) -> io::Result<usize> {
        let (n, from) = socket.try_recv_from(&mut bufs.data[..SLOT])?;
        bufs.lens[0] = n;
        bufs.from[0] = Some(from);
        Ok(1)
    }

    pub(super) fn can_segment(_socket: &UdpSocket) -> bool {
        false
    }

    pub(super) fn send(
        socket: &UdpSocket,
        packets: &[(&[u8], SocketAddr)],
        _segment: bool,
    ) -> io::Result<usize> {
        let (packet, to) = packets[0];
        socket.try_send_to(packet, to).map(|_| 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    /// Send `packets` through `sender` on `from`, however many calls it takes.
    async fn send_all(sender: &mut Sender, from: &UdpSocket, mut packets: &[(&[u8], SocketAddr)]) {
        while !packets.is_empty() {
            from.writable().await.unwrap();
            match sender.send(from, packets) {
                Ok(n) => packets = &packets[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Read `count` datagrams from `at`, each with its sender.
    async fn receive_all(at: &UdpSocket, count: usize) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut bufs = RecvBuffers::new();
        let mut got = Vec::new();
        while got.len() < count {
            at.readable().await.unwrap();
            match recv(at, &mut bufs) {
                Ok(n) => {
                    for i in 0..n {
                        let (data, from) = bufs.get(i);
                        got.push((data.to_vec(), from.unwrap()));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        got
    }

    /// A burst sent in batches arrives whole, in batches, with its sender.
    #[tokio::test]
    async fn a_burst_goes_out_and_comes_in_whole() {
        let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let to = b.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> = (0..(BATCH * 2 + 5))
            .map(|i| vec![i as u8; 1 + i * 7])
            .collect();
        let packets: Vec<(&[u8], SocketAddr)> =
            payloads.iter().map(|p| (p.as_slice(), to)).collect();
        send_all(&mut Sender::new(&a), &a, &packets).await;
        let got = receive_all(&b, payloads.len()).await;
        assert!(got.iter().all(|(_, from)| *from == a.local_addr().unwrap()));
        let got: Vec<Vec<u8>> = got.into_iter().map(|(data, _)| data).collect();
        assert_eq!(got, payloads);
    }

    /// Runs of equal datagrams (same destination, same length: segmented
    /// sends on Linux) arrive as the separate datagrams they were, in
    /// order, at the right socket; runs longer than the kernel's segment
    /// limit, runs broken by another destination or length, and a last
    /// datagram of a run that is shorter than the others all come through.
    #[tokio::test]
    async fn runs_of_equal_datagrams_arrive_as_datagrams() {
        runs_arrive(IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
        runs_arrive(IpAddr::V6(Ipv6Addr::LOCALHOST)).await;
    }

    async fn runs_arrive(ip: IpAddr) {
        let a = UdpSocket::bind((ip, 0)).await.unwrap();
        let b = UdpSocket::bind((ip, 0)).await.unwrap();
        let c = UdpSocket::bind((ip, 0)).await.unwrap();
        let (to_b, to_c) = (b.local_addr().unwrap(), c.local_addr().unwrap());
        let mut payloads: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        let mut seq = 0u16;
        let mut push = |len: usize, to: SocketAddr, payloads: &mut Vec<(Vec<u8>, SocketAddr)>| {
            let mut p = vec![0xa5; len];
            p[..2].copy_from_slice(&seq.to_be_bytes());
            seq += 1;
            payloads.push((p, to));
        };
        for _ in 0..(MAX_SEGMENTS * 2 + 3) {
            push(100, to_b, &mut payloads);
        }
        push(40, to_b, &mut payloads);
        for i in 0..20 {
            push(60, if i % 5 == 4 { to_c } else { to_b }, &mut payloads);
        }
        // Datagrams that only fit a few to a segmented send.
        for _ in 0..5 {
            push(30_000, to_c, &mut payloads);
        }
        let packets: Vec<(&[u8], SocketAddr)> =
            payloads.iter().map(|(p, to)| (p.as_slice(), *to)).collect();
        let mut sender = Sender::new(&a);
        send_all(&mut sender, &a, &packets).await;
        #[cfg(target_os = "linux")]
        assert!(sender.segments(), "loopback ({ip}) takes segmented sends");
        let for_b: Vec<Vec<u8>> = payloads
            .iter()
            .filter(|(_, to)| *to == to_b)
            .map(|(p, _)| p.clone())
            .collect();
        let for_c: Vec<Vec<u8>> = payloads
            .iter()
            .filter(|(_, to)| *to == to_c)
            .map(|(p, _)| p.clone())
            .collect();
        let got_b: Vec<Vec<u8>> = receive_all(&b, for_b.len())
            .await
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let got_c: Vec<Vec<u8>> = receive_all(&c, for_c.len())
            .await
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(got_b, for_b);
        assert_eq!(got_c, for_c);
    }

    /// The runs a burst is cut into.
    #[test]
    fn runs_follow_destination_length_and_limits() {
        let x: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let y: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let small = [0u8; 10];
        let other = [0u8; 11];
        let big = [0u8; 20_000];
        let mut packets: Vec<(&[u8], SocketAddr)> = vec![(&small, x); 3];
        packets.push((&other, x));
        packets.push((&small, y));
        packets.extend([(&big[..], x); 4]);
        packets.extend([(&small[..], x); MAX_SEGMENTS + 1]);
        let mut out = [(0, 0); BATCH];
        let n = runs(&packets, true, &mut out);
        assert_eq!(
            &out[..n],
            &[
                (0, 3),
                (3, 4),
                (4, 5),
                (5, 8),
                (8, 9),
                (9, 9 + MAX_SEGMENTS),
                (9 + MAX_SEGMENTS, 10 + MAX_SEGMENTS)
            ]
        );
        let n = runs(&packets, false, &mut out);
        assert_eq!(n, BATCH, "one datagram per message, BATCH messages at most");
        assert!(out[..n].iter().enumerate().all(|(i, r)| *r == (i, i + 1)));
    }
}

//! Batched UDP system calls: `recvmmsg(2)` and `sendmmsg(2)` (Linux), so
//! that a burst of replies is read, and a burst of queries sent, with one
//! system call per [`BATCH`] datagrams instead of one per datagram. On
//! other systems the same functions fall back to one `recv_from` /
//! `send_to` per datagram.
//!
//! The only unsafe code of the engine lives here, in two functions that
//! hand the kernel pointers into buffers they own for the duration of the
//! call.

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

/// Send `packets` (each with its destination) without blocking: the number
/// sent from the front (at least 1), or the error of the first one
/// (`WouldBlock` when the socket's buffer is full).
pub(crate) fn send(socket: &UdpSocket, packets: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
    if packets.is_empty() {
        return Ok(0);
    }
    socket.try_io(tokio::io::Interest::WRITABLE, || sys::send(socket, packets))
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

    use super::{BATCH, RecvBuffers, SLOT};

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

    pub(super) fn send(socket: &UdpSocket, packets: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
        let packets = &packets[..packets.len().min(BATCH)];
        let addrs: Vec<SockAddr> = packets.iter().map(|(_, to)| SockAddr::from(*to)).collect();
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, ((packet, _), addr)) in packets.iter().zip(&addrs).enumerate() {
            iovs[i] = libc::iovec {
                iov_base: packet.as_ptr().cast_mut().cast(),
                iov_len: packet.len(),
            };
            hdrs[i].msg_hdr.msg_name = addr.as_ptr().cast_mut().cast();
            hdrs[i].msg_hdr.msg_namelen = addr.len();
            hdrs[i].msg_hdr.msg_iov = &raw mut iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at its own iovec and destination
        // address, every iovec at a packet; all of them outlive the call,
        // and the kernel only reads them (sendmmsg writes msg_len alone).
        let n = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                hdrs.as_mut_ptr(),
                packets.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
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

    pub(super) fn send(socket: &UdpSocket, packets: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
        let (packet, to) = packets[0];
        socket.try_send_to(packet, to).map(|_| 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// A burst sent in batches arrives whole, in batches, with its sender.
    #[tokio::test]
    async fn a_burst_goes_out_and_comes_in_whole() {
        let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let to = b.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> = (0..(BATCH * 2 + 5))
            .map(|i| vec![i as u8; 1 + i * 7])
            .collect();
        let mut packets: Vec<(&[u8], SocketAddr)> =
            payloads.iter().map(|p| (p.as_slice(), to)).collect();
        while !packets.is_empty() {
            a.writable().await.unwrap();
            match send(&a, &packets) {
                Ok(n) => {
                    packets.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        let mut bufs = RecvBuffers::new();
        let mut got: Vec<Vec<u8>> = Vec::new();
        while got.len() < payloads.len() {
            b.readable().await.unwrap();
            match recv(&b, &mut bufs) {
                Ok(n) => {
                    for i in 0..n {
                        let (data, from) = bufs.get(i);
                        assert_eq!(from, Some(a.local_addr().unwrap()));
                        got.push(data.to_vec());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, payloads);
    }
}

//! A SYN black hole without iptables (docs/design.md, "Tests and the test
//! bed"): a TCP
//! listener on a loopback address with `listen(0)` that never accepts, and
//! whose accept queue is filled by a filler connection of its own. Linux
//! then drops every further SYN (the accept queue is full), so a client's
//! connect stays in SYN-SENT until the client's own connect timeout: the
//! "host does not answer" case, which private-range "dead" addresses would
//! give but must not be used here. Linux-specific.
//!
//! [`BlackHole::start`] returns once a probe connect with a short timeout
//! ([`PROBE_TIMEOUT`]) actually timed out. Dropping the [`BlackHole`] closes
//! the listener and the fillers.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::sys;

/// The timeout of the probe connects made at start.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

/// How many filler connections at most before giving up.
const MAX_FILLERS: usize = 8;

/// A listening socket whose connects hang; closed on drop.
pub struct BlackHole {
    addr: SocketAddr,
    // Field order: the fillers close before the listener.
    fillers: Vec<Socket>,
    _listener: Socket,
}

impl BlackHole {
    /// Bind `addr` (a 127.0.0.0/8 address; port 25 needs root), listen with
    /// a backlog of 0, never accept, and fill the backlog. Panics when the
    /// address is taken or the hole does not hold.
    pub fn start(addr: SocketAddr) -> BlackHole {
        sys::assert_loopback_v4("blackhole", addr);
        let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
            .and_then(|s| {
                s.set_reuse_address(true)?;
                s.bind(&SockAddr::from(addr))?;
                s.listen(0)?;
                Ok(s)
            })
            .unwrap_or_else(|e| panic!("testbed::blackhole: cannot listen on {addr}: {e}"));
        let mut fillers = Vec::new();
        loop {
            match probe(addr) {
                // The probe got in: it counts as a filler.
                Ok(s) => fillers.push(s),
                Err(e)
                    if e.kind() == io::ErrorKind::TimedOut
                        || e.kind() == io::ErrorKind::WouldBlock =>
                {
                    return BlackHole {
                        addr,
                        fillers,
                        _listener: listener,
                    };
                }
                Err(e) => panic!("testbed::blackhole: probe connect to {addr}: {e}"),
            }
            if fillers.len() >= MAX_FILLERS {
                panic!(
                    "testbed::blackhole: {addr} still accepts connects after {MAX_FILLERS} \
                     fillers (listen(0) backlog not honoured?)"
                );
            }
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many filler connections hold the backlog.
    pub fn fillers(&self) -> usize {
        self.fillers.len()
    }
}

/// One connect with [`PROBE_TIMEOUT`].
fn probe(addr: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.connect_timeout(&SockAddr::from(addr), PROBE_TIMEOUT)?;
    Ok(s)
}

//! DNS replies: arbitrary bytes as the one datagram a server sent back to the
//! question `example.org. MX`, through the engine's reply handling
//! (`read_reply`: decode, accept, rcode). When the engine would use the
//! datagram, the response it makes is the whole of DNS for `resolve` and for
//! `route` (every question, MX, A and AAAA, gets the same response), which
//! must never panic on any answer and must give a consistent verdict. The
//! engine's reply walker must read nothing that hickory-proto does not read
//! the same way.

#![no_main]

use std::net::SocketAddr;

use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;
use mxkit::address::Destination;
use mxkit::address::Domain;
use mxkit::dns::engine::{check_reply_walker, read_reply};
use mxkit::dns::{BoxFuture, Lookup, Name, RecordType, Response, resolve};
use mxkit::route::{Family, Route, RouteOptions, RouteVerdict, route};

/// A source that answers every question with the same response. Its
/// claim that the answers' owners are the name asked (`owners_asked`)
/// holds only for the question the datagram answered, so any other
/// question gets the response without it: `resolve` then compares the
/// owners, as with any source that does not vouch for them.
struct Fixed(Response, Name);

impl Lookup for Fixed {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response> {
        let mut resp = self.0.clone();
        if rtype != RecordType::MX || *name != self.1 {
            resp.owners_asked = false;
        }
        Box::pin(async move { resp })
    }
}

fn check(route: &Route) {
    assert_eq!(
        route.status == RouteVerdict::Deliverable,
        !route.candidates.is_empty(),
        "deliverable iff there are candidates: {route:?}"
    );
    match (route.status, &route.error) {
        (RouteVerdict::Deliverable, None) => {}
        (RouteVerdict::Permanent, Some(e)) if e.dsn.starts_with('5') => {}
        (RouteVerdict::Temporary, Some(e)) if e.dsn.starts_with('4') => {}
        _ => panic!("status and error disagree: {route:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    // The engine's own reply walker reads only what hickory-proto reads the same.
    if let Err(why) = check_reply_walker(data) {
        panic!("{why}");
    }
    let server = SocketAddr::from(([192, 0, 2, 53], 53));
    let domain = Domain::parse("example.org").unwrap();
    let Ok(resp) = read_reply(data, domain.name(), RecordType::MX, server) else {
        return;
    };
    let lookup = Fixed(resp, domain.name().clone());
    let _ = block_on(resolve(&lookup, domain.name(), RecordType::MX));
    let _ = block_on(resolve(&lookup, domain.name(), RecordType::A));
    let dest = Destination::Domain(domain);
    let strict = RouteOptions {
        seed: Some(1),
        ..RouteOptions::default()
    };
    let lenient = RouteOptions {
        family: Family::Ipv4,
        self_names: vec![Name::from_ascii("mx.example.org.").unwrap()],
        loopback_is_self: false,
        address_limit: Some(1),
        allow_ip_mx: true,
        seed: Some(2),
        ..RouteOptions::default()
    };
    for opts in [strict, lenient] {
        check(&block_on(route(&lookup, &dest, &opts)));
    }
});

//! DNS blocklist answers (docs/rules/check.md, row MX33; `mxkit::dnsbl`):
//! arbitrary bytes as a list's zone name, an address, and the A and TXT
//! records a list (or whoever answers for it) sends back.
//!
//! Layout: pieces split at NUL. The first piece, as lossy UTF-8, is the
//! zone given to `List::parse`; the second's first 16 bytes (zero-padded)
//! are an IPv6 address, its first 4 an IPv4 address; every further piece
//! is one TXT record (its character strings cut every 255 bytes) and, by
//! its first 4 bytes, one A record.
//!
//! Checked beyond "no panic": a parsed zone parses again to itself; a query
//! name ends with the zone and has 4 (IPv4) or 32 (IPv6) more labels and at
//! most 255 octets; `classify` says listed only for codes all in
//! 127.0.0.0/8 and none in 127.255.255.0/24, refused only with such a code
//! and all in 127.0.0.0/8, broken only with one outside, not listed only
//! without records; a reason is printable ASCII, at most `MAX_REASON`
//! characters, and never ends inside an escape.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mxkit::dns::rdata::{A, TXT};
use mxkit::dns::{Name, Outcome, RData, Record};
use mxkit::dnsbl::{List, Listing, MAX_REASON, classify, is_error_code, reason};

fuzz_target!(|data: &[u8]| {
    let mut pieces = data.split(|&b| b == 0);
    let zone = String::from_utf8_lossy(pieces.next().unwrap_or_default()).into_owned();
    let addr = pieces.next().unwrap_or_default();
    let mut octets = [0u8; 16];
    for (o, b) in octets.iter_mut().zip(addr) {
        *o = *b;
    }
    let rest: Vec<&[u8]> = pieces.take(16).collect();

    if let Ok(list) = List::parse(&zone) {
        assert_eq!(List::parse(list.as_str()).as_ref(), Ok(&list));
        let v4 = IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]));
        let v6 = IpAddr::V6(Ipv6Addr::from(octets));
        for (ip, labels) in [(v4, 4), (v6, 32)] {
            let name = list.query_name(ip);
            assert!(list.zone().zone_of(&name), "{name}");
            assert_eq!(
                usize::from(name.num_labels()),
                usize::from(list.zone().num_labels()) + labels,
                "{name}"
            );
            let wire: usize = name.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
            assert!(wire <= 255, "{name}");
        }
    }

    let owner = Name::from_ascii("2.0.0.127.bl.example.").unwrap();
    let a: Vec<Record> = rest
        .iter()
        .filter(|p| p.len() >= 4)
        .map(|p| {
            let code = Ipv4Addr::new(p[0], p[1], p[2], p[3]);
            Record::from_rdata(owner.clone(), 60, RData::A(A(code)))
        })
        .collect();
    let codes: Vec<Ipv4Addr> = a
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    let outside = codes.iter().any(|c| c.octets()[0] != 127);
    let error = codes.iter().copied().any(is_error_code);
    match classify(&Outcome::Records(Arc::from(a))) {
        Listing::Listed { codes: got } => {
            assert!(!outside && !error && !got.is_empty());
            assert_eq!(got, codes);
        }
        Listing::Refused { codes: got } => {
            assert!(!outside && error);
            assert_eq!(got, codes);
        }
        Listing::Broken { addresses } => {
            assert!(outside);
            assert_eq!(addresses, codes);
        }
        Listing::NotListed => assert!(codes.is_empty()),
        Listing::Failed { .. } => panic!("records never fail"),
    }

    let txt: Vec<Record> = rest
        .iter()
        .map(|p| {
            let strings: Vec<&[u8]> = p.chunks(255).collect();
            Record::from_rdata(owner.clone(), 60, RData::TXT(TXT::from_bytes(strings)))
        })
        .collect();
    if let Some(text) = reason(&Outcome::Records(Arc::from(txt))) {
        assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{text:?}");
        assert!(text.chars().count() <= MAX_REASON, "{text:?}");
        let body = text.strip_suffix("...").unwrap_or(&text);
        // Escapes are `\\`, `\"` or `\DDD`: strip them from the left and
        // nothing may be left dangling.
        let mut rest = body;
        while let Some(at) = rest.find('\\') {
            let tail = &rest[at + 1..];
            let len = match tail.as_bytes().first() {
                Some(b'\\' | b'"') => 1,
                Some(b'0'..=b'9') => {
                    assert!(
                        tail.len() >= 3 && tail.as_bytes()[..3].iter().all(u8::is_ascii_digit),
                        "{text:?}"
                    );
                    3
                }
                _ => panic!("dangling escape in {text:?}"),
            };
            rest = &tail[len..];
        }
    } else {
        assert!(rest.is_empty());
    }
});

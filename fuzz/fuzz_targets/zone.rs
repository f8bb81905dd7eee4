//! Zone files: arbitrary text through `ZoneSet::parse_str`, and, when it
//! loads, authoritative answers for a few names and types, then routing over
//! those answers alone (offline), which must never panic.
//!
//! The same text again with a small entry limit (`Limits::entry` of 64
//! bytes), so that the streaming lexer refills its window many times and
//! hits the limit: limits only add errors, so when that loads, it loads the
//! same records as with the defaults.
//!
//! Text with `$INCLUDE` is skipped: it makes the parser read the named file,
//! which is the file system, not the parser.

#![no_main]

use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;
use mxkit::address::{Destination, Domain};
use mxkit::dns::zone::{Limits, Zone, ZoneSet};
use mxkit::dns::{Name, Overlay, RecordType};
use mxkit::route::{RouteOptions, route};

const NAMES: [&str; 7] = [
    "example.org.",
    "www.example.org.",
    "mail.example.org.",
    "a.b.example.org.",
    "*.example.org.",
    "org.",
    ".",
];

const TYPES: [RecordType; 6] = [
    RecordType::MX,
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::SOA,
    RecordType::TXT,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.to_ascii_lowercase().contains("$include") {
        return;
    }
    let origin = Name::from_ascii("example.org.").unwrap();
    for initial in [None, Some(origin)] {
        let small = Limits {
            entry: 64,
            ..Limits::default()
        };
        let limited = Zone::parse_with(text, "fuzz", initial.clone(), &small);
        let Ok(zone) = ZoneSet::parse_str(text, "fuzz", initial) else {
            assert!(limited.is_err(), "loads only with the smaller limit");
            continue;
        };
        if let Ok(limited) = limited {
            assert_eq!(limited.records(), zone.records(), "a limit changed the records");
        }
        let mut zones = ZoneSet::new();
        zones.push(zone);
        for name in NAMES {
            let name = Name::from_ascii(name).unwrap();
            for rtype in TYPES {
                let _ = zones.answer(&name, rtype);
            }
        }
        let overlay = Overlay {
            zones,
            fallback: None,
        };
        let dest = Destination::Domain(Domain::parse("example.org").unwrap());
        let opts = RouteOptions {
            seed: Some(1),
            ..RouteOptions::default()
        };
        let _ = block_on(route(&overlay, &dest, &opts));
    }
});

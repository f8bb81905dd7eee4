//! Addresses and exchange names: `Address::parse` and `Domain::parse` on
//! arbitrary text (what a person or a message gives), and
//! `classify_exchange` / `display_name` on names built from arbitrary label
//! bytes (what an MX record in a DNS reply can carry).
//!
//! Checked beyond "no panic": a parsed domain parses again to itself (its
//! A-label text is already in the form `parse` produces), and `display_name`
//! never lets a byte a terminal could misread through unescaped.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mxkit::address::{Address, Domain, classify_exchange, display_name};
use mxkit::dns::Name;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Address::parse(text);
        if let Ok(domain) = Domain::parse(text) {
            let again = Domain::parse(domain.as_str()).unwrap_or_else(|e| {
                panic!("{:?} parsed, its text {:?} not: {e}", text, domain.as_str())
            });
            assert_eq!(again.as_str(), domain.as_str());
            assert_eq!(again.name(), domain.name());
        }
    }

    // The same bytes as labels: each label is a length byte (0-63, from the
    // low six bits) and that many bytes, as on the wire.
    let mut labels: Vec<&[u8]> = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len & 0x3f).min(tail.len());
        let (label, tail) = tail.split_at(len);
        labels.push(label);
        rest = tail;
    }
    if let Ok(mut name) = Name::from_labels(labels) {
        for fqdn in [true, false] {
            name.set_fqdn(fqdn);
            let _ = classify_exchange(&name);
            let shown = display_name(&name);
            assert!(
                shown.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "display_name let a control or non-ASCII byte through: {shown:?}"
            );
        }
    }
});

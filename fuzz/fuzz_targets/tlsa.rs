//! DANE's TLSA selection and matching (docs/rules/secure.md, Rules S4 and
//! S6): arbitrary bytes as TLSA records and a presented certificate chain.
//!
//! Layout: the first byte is the number of records (0-15, low 4 bits);
//! each record is usage, selector, matching, a length byte and that many
//! bytes of data (cut short where the input ends); the rest is the chain,
//! split into certificates at each `0xff 0x00` pair (at most 20 pieces).
//!
//! Checked beyond "no panic": `usable()` agrees with `unusable()`; a usable
//! record has usage 2 or 3, selector 0 or 1, matching 0-2 with a 32- or
//! 64-octet digest for 1 and 2; a record's text form is its three numbers
//! and hex (or `-`); `match_chain` reports only usable records, DANE-EE
//! matches of the leaf alone, DANE-TA positions inside the chain and within
//! `MAX_CHAIN`, and only matches `record_matches` confirms.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mxkit::dane::{MAX_CHAIN, TlsaRecord, match_chain, record_matches};

fuzz_target!(|data: &[u8]| {
    let Some((&count, mut rest)) = data.split_first() else {
        return;
    };
    let mut records = Vec::new();
    for _ in 0..(count & 15) {
        let [usage, selector, matching, len, tail @ ..] = rest else {
            break;
        };
        let take = usize::from(*len).min(tail.len());
        records.push(TlsaRecord {
            usage: *usage,
            selector: *selector,
            matching: *matching,
            data: tail[..take].to_vec(),
        });
        rest = &tail[take..];
    }
    let mut chain: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    for i in 0..rest.len().saturating_sub(1) {
        if rest[i] == 0xff && rest[i + 1] == 0 && chain.len() < 19 {
            chain.push(&rest[start..i]);
            start = i + 2;
        }
    }
    chain.push(&rest[start.min(rest.len())..]);

    for r in &records {
        assert_eq!(r.usable(), r.unusable().is_none());
        if r.usable() {
            assert!(matches!(r.usage, 2 | 3) && r.selector <= 1, "{r}");
            match r.matching {
                0 => assert!(!r.data.is_empty()),
                1 => assert_eq!(r.data.len(), 32),
                2 => assert_eq!(r.data.len(), 64),
                _ => panic!("usable with matching type {}", r.matching),
            }
        }
        let text = r.to_string();
        let head = format!("{} {} {} ", r.usage, r.selector, r.matching);
        assert!(text.starts_with(&head), "{text}");
        assert_eq!(text.len(), head.len() + (2 * r.data.len()).max(1));
    }
    let found = match_chain(&records, &chain);
    for r in &found.end_entity {
        assert!(r.usable() && r.usage == 3);
        assert!(record_matches(r, chain[0]));
    }
    for (r, at) in &found.trust_anchors {
        assert!(r.usable() && r.usage == 2);
        assert!(*at < chain.len() && *at < MAX_CHAIN);
        assert!(record_matches(r, chain[*at]));
    }
});

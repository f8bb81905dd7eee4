//! The MTA-STS policy file parser and `mx` matching (docs/rules/secure.md,
//! Rules S8 and S10): arbitrary bytes as a policy body; the first line of
//! the input (up to a NUL) also serves as a host name to match.
//!
//! Checked beyond "no panic": a parsed policy has `max_age` at most
//! 31557600, at least one `mx` unless its mode is none, patterns in lower
//! case without a final dot and with `*` only as the whole first label; it
//! survives its own text form (`to_text` parses back to the same policy);
//! a wildcard never matches a host with more than one label in its place.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mxkit::mta_sts::policy::{MAX_MAX_AGE, Mode, Policy, pattern_matches};

fuzz_target!(|data: &[u8]| {
    let (host, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let host = String::from_utf8_lossy(host);
    if let Ok(policy) = Policy::parse(body) {
        assert!(policy.max_age <= MAX_MAX_AGE);
        assert!(policy.mode == Mode::None || !policy.mx.is_empty());
        for p in &policy.mx {
            assert_eq!(p, &p.to_ascii_lowercase());
            assert!(!p.ends_with('.'));
            assert!(!p.trim_start_matches("*.").contains('*'), "{p}");
            if let Some(base) = p.strip_prefix("*.") {
                // One label more matches, two do not.
                assert!(pattern_matches(p, &format!("x.{base}")));
                assert!(!pattern_matches(p, &format!("x.y.{base}")));
                assert!(!pattern_matches(p, base));
            }
        }
        assert_eq!(Policy::parse(policy.to_text().as_bytes()).as_ref(), Ok(&policy));
        let _ = policy.matches(&host);
    }
});

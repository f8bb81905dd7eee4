//! Postfix log lines: arbitrary bytes as a log, line by line, through the
//! trap's `PostfixParser` (file lines and journald messages), `split_line`
//! and the journal entry parser.
//!
//! Checked beyond "no panic": every observation is a primary one of the
//! configured stream; a sender domain has no `@` (no local part kept), and
//! HELO and client names stay within 255 bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mxkit_trap::logs::journal::parse_entry;
use mxkit_trap::logs::postfix::split_line;
use mxkit_trap::logs::{ParserConfig, PostfixParser};
use mxkit_trap::model::Role;

/// 2026-11-26T09:46:24Z.
const NOW: i64 = 1_795_686_384_000_000;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the reference time and zone (year wrap, offsets).
    let (mode, rest) = data.split_first().map_or((0, data), |(m, r)| (*m, r));
    let reference = match mode & 3 {
        0 => NOW,
        1 => 1_798_761_599_000_000, // 2026-12-31T23:59:59Z
        2 => i64::MAX,
        _ => i64::MIN,
    };
    let mut config = ParserConfig::new("fuzz");
    config.utc_offset = i32::from(mode >> 2) * 1800 - 12 * 3600;
    config.queue_capacity = 8;
    let mut parser = PostfixParser::new(config);
    let text = String::from_utf8_lossy(rest);
    let mut out = Vec::new();
    for line in text.split('\n') {
        let _ = parser.line(line, reference, &mut out);
        for tag in ["postfix/smtpd", "postfix/postscreen", "postfix/qmgr"] {
            parser.message(reference, tag, line, &mut out);
        }
        let _ = split_line(line, reference, 0);
        let _ = parse_entry(line);
    }
    for o in &out {
        assert_eq!(o.role, Role::Primary);
        assert_eq!(o.stream, "fuzz");
        if let Some(d) = &o.mail_domain {
            assert!(!d.contains('@'), "a local part was kept: {d:?}");
        }
        for s in [&o.helo, &o.client_name].into_iter().flatten() {
            assert!(s.len() <= 255, "{s:?}");
        }
    }
});

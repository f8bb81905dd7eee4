//! Messages and envelope addresses: `Message::prepare(raw, from, to,
//! subject)` on arbitrary bytes with arbitrary header values, and
//! `validate_address` on every one of those strings. The input is decoded
//! with `arbitrary` as `(from, to, subject, raw)`, `raw` taking the rest.
//!
//! Checked beyond "no panic", when `prepare` succeeds: the output ends with
//! CRLF, has no bare CR or LF, no line over 998 octets, a `From:` field in
//! its header section, no NUL (a NUL in a header value is refused), a
//! Message-ID, and preparing it again changes nothing. When `validate_address` accepts a string, it is
//! something `MAIL FROM:<...>` can carry verbatim: no CR, LF, NUL or other
//! control character, no `<` or `>`, at most 254 octets, a local part and a
//! domain.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mxkit::smtp::Message;

#[path = "../../crates/mxkit/tests/support/smtp_checks.rs"]
mod smtp_checks;
use smtp_checks::{check_address, check_message};

fuzz_target!(|input: (&str, Vec<&str>, Option<&str>, &[u8])| {
    let (from, to, subject, raw) = input;
    for addr in std::iter::once(from)
        .chain(to.iter().copied())
        .chain(subject)
    {
        check_address(addr);
    }
    let to: Vec<String> = to.into_iter().map(str::to_string).collect();
    let Ok(msg) = Message::prepare(raw, from, &to, subject) else {
        return;
    };
    let values_have_nul = from.contains('\0')
        || subject.is_some_and(|s| s.contains('\0'))
        || to.iter().any(|t| t.contains('\0'));
    assert!(!values_have_nul, "a NUL in a header value was accepted");
    check_message(&msg, false);
    // Prepared once is prepared: nothing to add, nothing to change.
    let again = Message::prepare(msg.as_bytes(), from, &to, subject)
        .unwrap_or_else(|e| panic!("a prepared message does not prepare again: {e}"));
    assert_eq!(
        String::from_utf8_lossy(again.as_bytes()),
        String::from_utf8_lossy(msg.as_bytes())
    );
    assert_eq!(again.message_id(), msg.message_id());
});

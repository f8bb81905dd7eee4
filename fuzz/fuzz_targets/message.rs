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
use mxkit::smtp::{Message, SmtpOptions, validate_address};

/// RFC 5322 section 2.1.1.
const MAX_LINE: usize = 998;

fn check_address(addr: &str) {
    if validate_address(addr).is_err() {
        return;
    }
    assert!(
        !addr.chars().any(char::is_control),
        "{addr:?} has a control character"
    );
    assert!(!addr.contains(['<', '>']), "{addr:?} has an angle bracket");
    assert!(addr.len() <= 254, "{addr:?} is {} octets", addr.len());
    assert!(addr.contains('@'), "{addr:?} has no local part");
    // The envelope check of the options agrees.
    let mut opts = SmtpOptions::new("client.example.net", "example.org");
    opts.mail_from = addr.to_string();
    opts.rcpt_to = vec![addr.to_string()];
    assert!(opts.validate().is_ok(), "{addr:?}: {:?}", opts.validate());
}

/// The properties of a prepared message.
fn check_message(msg: &Message, values_have_nul: bool) {
    let bytes = msg.as_bytes();
    assert_eq!(msg.len(), bytes.len());
    assert!(!msg.is_empty());
    assert_eq!(msg.is_8bit(), !bytes.is_ascii());
    assert!(bytes.ends_with(b"\r\n"), "no final CRLF: {bytes:?}");
    assert!(values_have_nul || !bytes.contains(&0), "a NUL: {bytes:?}");
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => {
                assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}");
                lines.push(&bytes[start..i - 1]);
                start = i + 1;
            }
            _ => {}
        }
    }
    for (n, line) in lines.iter().enumerate() {
        assert!(
            line.len() <= MAX_LINE,
            "line {} is {} octets",
            n + 1,
            line.len()
        );
    }
    let has_from = lines
        .iter()
        .take_while(|l| !l.is_empty())
        .any(|l| l.len() >= 5 && l[..5].eq_ignore_ascii_case(b"from:"));
    assert!(has_from, "no From: field in the header section");
    assert!(msg.message_id().is_some(), "no Message-ID");
}

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

//! `Message::prepare`: RFC 5322 section 2.1 (CRLF, no NUL, 998-octet lines),
//! section 3.6 (the header fields a message must have), RFC 2047 for a
//! non-ASCII subject.

use mxkit::smtp::{Message, MessageError, Stage};

fn to() -> Vec<String> {
    vec!["user@example.test".into()]
}

fn text(m: &Message) -> &str {
    std::str::from_utf8(m.as_bytes()).unwrap()
}

fn headers(m: &Message) -> Vec<&str> {
    text(m)
        .split_once("\r\n\r\n")
        .unwrap()
        .0
        .split("\r\n")
        .collect()
}

#[test]
fn rfc5322_3_6_a_body_without_headers_gets_every_required_field() {
    let m = Message::prepare(b"just a body\n", "me@example.net", &to(), Some("Hi")).unwrap();
    let h = headers(&m);
    let names: Vec<&str> = h.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(names, ["Date", "Message-ID", "From", "To", "Subject"]);
    assert!(h.contains(&"From: me@example.net"));
    assert!(h.contains(&"To: user@example.test"));
    assert!(h.contains(&"Subject: Hi"));
    let id = m.message_id().unwrap();
    assert!(id.starts_with('<') && id.ends_with("@example.net>"), "{id}");
    assert!(text(&m).ends_with("\r\n\r\njust a body\r\n"));
    assert_eq!(m.len(), m.as_bytes().len());
    assert!(!m.is_8bit());
}

#[test]
fn existing_headers_are_kept_and_not_duplicated() {
    let raw = b"From: Someone <me@example.net>\nTo: you@example.test\nDate: Thu, 13 Feb 2025 10:00:00 +0000\nMessage-ID:\n <abc@example.net>\nSubject: already\n\nbody\n";
    let m = Message::prepare(raw, "other@example.net", &to(), Some("ignored")).unwrap();
    let h = headers(&m);
    assert_eq!(h.len(), 6, "{h:?}");
    assert_eq!(h[0], "From: Someone <me@example.net>");
    assert_eq!(m.message_id(), Some("<abc@example.net>"));
    assert!(!text(&m).contains("ignored"));
}

#[test]
fn rfc5322_2_1_headers_without_a_blank_line_get_one() {
    let m = Message::prepare(b"Subject: x\nbody line\n", "me@example.net", &to(), None).unwrap();
    let (head, body) = text(&m).split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("Subject: x\r\n"));
    assert_eq!(body, "body line\r\n");
}

#[test]
fn rfc5322_2_1_line_endings_are_normalised_and_a_final_crlf_added() {
    let m = Message::prepare(
        b"From: a@b.test\r\n\r\none\rtwo\nthree\r\nfour",
        "",
        &[],
        None,
    )
    .unwrap();
    assert!(text(&m).ends_with("\r\n\r\none\r\ntwo\r\nthree\r\nfour\r\n"));
    let bytes = m.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            assert_eq!(bytes[i - 1], b'\r');
        }
        if b == b'\r' {
            assert_eq!(bytes[i + 1], b'\n');
        }
    }
}

#[test]
fn rfc5322_2_1_1_nul_and_long_lines_are_refused() {
    let e = Message::prepare(b"ab\0c", "me@example.net", &to(), None).unwrap_err();
    assert_eq!(e, MessageError::Nul { offset: 2 });
    assert_eq!(e.stage(), Stage::Data);
    assert!(!e.is_soft());
    let mut raw = b"ok\n".to_vec();
    raw.extend(std::iter::repeat_n(b'x', 999));
    let e = Message::prepare(&raw, "me@example.net", &to(), None).unwrap_err();
    assert_eq!(e, MessageError::LineTooLong { line: 2, len: 999 });
    // 998 is fine.
    raw.pop();
    assert!(Message::prepare(&raw, "me@example.net", &to(), None).is_ok());
}

#[test]
fn header_injection_and_missing_from_are_refused() {
    let e =
        Message::prepare(b"x", "me@example.net", &to(), Some("a\r\nBcc: x@y.test")).unwrap_err();
    assert_eq!(e, MessageError::HeaderInjection { field: "Subject" });
    let e = Message::prepare(b"x", "", &to(), None).unwrap_err();
    assert_eq!(e, MessageError::NoFrom);
}

#[test]
fn rfc2047_non_ascii_subject_is_encoded() {
    let m = Message::prepare(b"x", "me@example.net", &to(), Some("Grüße aus Köln")).unwrap();
    let subject = headers(&m)
        .into_iter()
        .find(|l| l.starts_with("Subject:"))
        .unwrap();
    assert_eq!(subject, "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=");
    assert!(!m.is_8bit());
    let m = Message::prepare("Grüße\n".as_bytes(), "me@example.net", &to(), None).unwrap();
    assert!(m.is_8bit());
}

#[test]
fn several_recipients_are_folded() {
    let rcpts = vec!["a@example.test".to_string(), "b@example.test".to_string()];
    let m = Message::prepare(b"x", "me@example.net", &rcpts, None).unwrap();
    assert!(text(&m).contains("To: a@example.test,\r\n b@example.test\r\n"));
}

#[test]
fn rfc5322_nul_in_a_header_value_is_refused() {
    use mxkit::smtp::{Message, MessageError};
    let err = Message::prepare(b"hello\r\n", "a\0b@example.net", &[], Some("x")).unwrap_err();
    assert!(
        matches!(err, MessageError::HeaderInjection { field: "From" }),
        "{err:?}"
    );
    let err = Message::prepare(b"hello\r\n", "a@example.net", &[], Some("x\0y")).unwrap_err();
    assert!(
        matches!(err, MessageError::HeaderInjection { field: "Subject" }),
        "{err:?}"
    );
}

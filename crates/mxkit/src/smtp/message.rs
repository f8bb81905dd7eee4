//! The message to deliver (RFC 5322) and the addresses of the envelope.
//!
//! [`Message::prepare`] normalises line endings to CRLF (RFC 5322 section
//! 2.1: CR and LF only together), refuses NUL and lines longer than 998
//! octets (section 2.1.1), and adds the header fields a message must have
//! (section 3.6: `Date:`, `From:`; SHOULD `Message-ID:`; plus `To:` and a
//! given `Subject:`), so that a file without headers is still a valid
//! message. Dot-stuffing (RFC 5321 section 4.5.2) happens while sending.
//!
//! [`validate_address`] guards the envelope: nothing with CR, LF, NUL, `<`,
//! `>` or unquoted spaces ever reaches `MAIL FROM:<...>` or `RCPT TO:<...>`
//! (SMTP command injection).

use std::time::{SystemTime, UNIX_EPOCH};

use super::{MessageError, SmtpError, Stage};
use crate::address::Address;

/// RFC 5322 section 2.1.1: at most 998 octets per line, without CRLF.
pub const MAX_LINE: usize = 998;

/// The largest message read and sent unless the caller says otherwise:
/// Postfix's default `message_size_limit` (10240000 octets), so that what
/// mxkit sends, a default Postfix accepts. Read a message with
/// [`crate::bounded::read_to_limit`] so that an endless source stops there.
pub const DEFAULT_MAX_SIZE: u64 = 10_240_000;

/// The highest limit a caller may set: the message is held in memory (twice
/// while it is prepared), so 1 GiB keeps that within what a machine has.
pub const MAX_MAX_SIZE: u64 = 1 << 30;

/// A message ready to send: CRLF line endings, a final CRLF, the required
/// header fields, not yet dot-stuffed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    bytes: Vec<u8>,
    message_id: Option<String>,
    eight_bit: bool,
}

impl Message {
    /// Normalise `raw` and add missing header fields. `from` and `to` are
    /// used for `From:`/`To:` when those are missing; `subject` for
    /// `Subject:` when given and missing (non-ASCII text is RFC 2047
    /// encoded).
    pub fn prepare(
        raw: &[u8],
        from: &str,
        to: &[String],
        subject: Option<&str>,
    ) -> Result<Message, MessageError> {
        let lines = checked_lines(raw, from, to, subject)?;
        let (headers, body) = split_header_section(&lines);
        let (added, message_id) = missing_fields(headers, from, to, subject)?;
        let size = raw.len() + added.iter().map(|a| a.len() + 2).sum::<usize>() + lines.len() + 4;
        let mut bytes = Vec::with_capacity(size);
        for line in headers {
            bytes.extend_from_slice(line);
            bytes.extend_from_slice(b"\r\n");
        }
        for text in &added {
            bytes.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"\r\n");
        for line in body {
            bytes.extend_from_slice(line);
            bytes.extend_from_slice(b"\r\n");
        }
        let eight_bit = !bytes.is_ascii();
        Ok(Message {
            bytes,
            message_id,
            eight_bit,
        })
    }

    /// Size in octets (CRLF line endings, before dot-stuffing): what `SIZE=`
    /// announces (RFC 1870).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true: a prepared message has at least its header fields.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The `Message-ID:` value (with angle brackets), found or added.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The normalised message (not dot-stuffed).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Octets above 127: announce `BODY=8BITMIME` when offered (RFC 6152).
    pub fn is_8bit(&self) -> bool {
        self.eight_bit
    }

    /// The message dot-stuffed (RFC 5321 section 4.5.2: a line starting with
    /// `.` gets one more), in chunks of about `chunk` octets, without the
    /// final `.` line.
    pub(crate) fn stuffed_chunks(&self, chunk: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
        let mut rest: &[u8] = &self.bytes;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let mut out = Vec::with_capacity(chunk + 64);
            while !rest.is_empty() && out.len() < chunk {
                let end = rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |p| p + 1);
                if rest[0] == b'.' {
                    out.push(b'.');
                }
                out.extend_from_slice(&rest[..end]);
                rest = &rest[end..];
            }
            Some(out)
        })
    }
}

/// The lines of `raw`, once it is known to hold no NUL and no line longer
/// than 998 octets, and the header values given hold no line break.
fn checked_lines<'r>(
    raw: &'r [u8],
    from: &str,
    to: &[String],
    subject: Option<&str>,
) -> Result<Vec<&'r [u8]>, MessageError> {
    if let Some(offset) = raw.iter().position(|&b| b == 0) {
        return Err(MessageError::Nul { offset });
    }
    for (field, value) in [("From", Some(from)), ("Subject", subject)]
        .into_iter()
        .chain(to.iter().map(|t| ("To", Some(t.as_str()))))
    {
        if value.is_some_and(|v| v.contains(['\r', '\n', '\0'])) {
            return Err(MessageError::HeaderInjection { field });
        }
    }
    let lines = split_lines(raw);
    for (i, line) in lines.iter().enumerate() {
        if line.len() > MAX_LINE {
            return Err(MessageError::LineTooLong {
                line: i + 1,
                len: line.len(),
            });
        }
    }
    Ok(lines)
}

/// The header section (the leading run of field lines and their
/// continuations) and the body after the empty line that ends it (inserted
/// when missing).
fn split_header_section<'l, 'r>(lines: &'l [&'r [u8]]) -> (&'l [&'r [u8]], &'l [&'r [u8]]) {
    let mut end = 0;
    while end < lines.len() {
        let line = lines[end];
        let continuation = end > 0 && matches!(line.first(), Some(b' ' | b'\t'));
        if line.is_empty() || !(is_field(line) || continuation) {
            break;
        }
        end += 1;
    }
    let (headers, body) = lines.split_at(end);
    let body = match body.first() {
        Some(&[]) => &body[1..],
        _ => body,
    };
    (headers, body)
}

/// The header fields `headers` lacks (RFC 5322 section 3.6: `Date:`,
/// `From:`; SHOULD `Message-ID:`; `To:` and a given `Subject:`), in the
/// order added, and the `Message-ID:` value, found or made.
fn missing_fields(
    headers: &[&[u8]],
    from: &str,
    to: &[String],
    subject: Option<&str>,
) -> Result<(Vec<String>, Option<String>), MessageError> {
    let has = |name: &str| headers.iter().any(|l| field_name_is(l, name));
    let mut added: Vec<String> = Vec::new();
    if !has("date") {
        added.push(format!("Date: {}", rfc5322_date(now_secs())));
    }
    let mut message_id = headers
        .iter()
        .position(|l| field_name_is(l, "message-id"))
        .map(|i| {
            // The value may be folded onto the next lines.
            let mut value = field_value(headers[i]);
            for cont in headers[i + 1..]
                .iter()
                .take_while(|l| matches!(l.first(), Some(b' ' | b'\t')))
            {
                value.push_str(&String::from_utf8_lossy(cont));
            }
            value.trim().to_string()
        });
    if message_id.is_none() {
        let id = new_message_id(from);
        added.push(format!("Message-ID: {id}"));
        message_id = Some(id);
    }
    if !has("from") {
        if from.is_empty() {
            return Err(MessageError::NoFrom);
        }
        added.push(format!("From: {from}"));
    }
    if !has("to") && !to.is_empty() {
        added.push(format!("To: {}", to.join(",\r\n ")));
    }
    if let Some(subject) = subject
        && !has("subject")
    {
        added.push(format!("Subject: {}", encode_header_text(subject)));
    }
    for text in &added {
        for (i, line) in text.split("\r\n").enumerate() {
            if line.len() > MAX_LINE {
                return Err(MessageError::LineTooLong {
                    line: i + 1,
                    len: line.len(),
                });
            }
        }
    }
    Ok((added, message_id))
}

/// A new `Message-ID:` value in the sender's domain: the time and a random
/// number (`<18d2f3a1b2c.0123456789abcdef@example.org>`).
fn new_message_id(from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
        .unwrap_or("mxkit.invalid");
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("<{millis:x}.{:016x}@{domain}>", rand::random::<u64>())
}

/// Split at CRLF, bare LF or bare CR; a final line ending adds no line.
fn split_lines(raw: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' => {
                lines.push(&raw[start..i]);
                i += if raw.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                start = i;
            }
            b'\n' => {
                lines.push(&raw[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < raw.len() {
        lines.push(&raw[start..]);
    }
    lines
}

/// RFC 5322 section 2.2: `field-name ":"`, field-name is printable US-ASCII
/// except `:`.
fn is_field(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(0) | None => false,
        Some(colon) => line[..colon].iter().all(|&b| (33..=126).contains(&b)),
    }
}

fn field_name_is(line: &[u8], name: &str) -> bool {
    is_field(line)
        && line.len() > name.len()
        && line[name.len()] == b':'
        && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
}

fn field_value(line: &[u8]) -> String {
    let colon = line.iter().position(|&b| b == b':').unwrap_or(0);
    String::from_utf8_lossy(&line[colon + 1..]).into_owned()
}

/// ASCII text as is; otherwise RFC 2047 `B` encoded words of UTF-8, each at
/// most 75 characters, folded.
fn encode_header_text(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Seconds since the epoch to (year, month, day, hour, minute, second,
/// weekday with 0 = Sunday), UTC, proleptic Gregorian (H. Hinnant's
/// `civil_from_days`).
pub(crate) fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = (days + 4).rem_euclid(7) as u32;
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
        weekday,
    )
}

/// RFC 5322 section 3.3 `date-time`, in UTC: `Thu, 13 Feb 2025 10:00:00 +0000`.
pub(crate) fn rfc5322_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, hh, mm, ss, wd) = civil(secs);
    format!(
        "{}, {d} {} {y:04} {hh:02}:{mm:02}:{ss:02} +0000",
        DAYS[wd as usize],
        MONTHS[(m - 1) as usize]
    )
}

/// Refuse an envelope address that could not be sent verbatim inside
/// `<...>`: CR, LF, NUL or other control characters, `<`, `>`, spaces
/// outside a quoted local part, no local part, or not an address at all
/// (RFC 5321 section 4.1.2 `Mailbox`). Nothing is sent when this fails.
pub fn validate_address(addr: &str) -> Result<(), SmtpError> {
    validate_address_at(addr, Stage::Rcpt)
}

pub(crate) fn validate_address_at(addr: &str, stage: Stage) -> Result<(), SmtpError> {
    let bad = |reason: &str| {
        Err(SmtpError::InvalidAddress {
            stage,
            address: addr.to_string(),
            reason: reason.to_string(),
        })
    };
    if addr.is_empty() {
        return bad("empty");
    }
    if addr.contains(['\r', '\n', '\0']) {
        return bad("contains CR, LF or NUL");
    }
    if addr.chars().any(char::is_control) {
        return bad("contains a control character");
    }
    if addr.contains(['<', '>']) {
        return bad("contains '<' or '>'");
    }
    // RFC 5321 section 4.5.3.1.3: a path is at most 256 octets with its brackets.
    if addr.len() > 254 {
        return bad("longer than 254 octets");
    }
    let mut quoted = false;
    let mut escaped = false;
    for c in addr.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return bad("contains a space outside quotes"),
            _ => {}
        }
    }
    match Address::parse(addr) {
        Ok(Address { local: Some(_), .. }) => Ok(()),
        Ok(_) => bad("no local part (expected local@domain)"),
        Err(e) => bad(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_739_440_800),
            "Thu, 13 Feb 2025 10:00:00 +0000"
        );
    }

    #[test]
    fn lines() {
        assert_eq!(
            split_lines(b"a\r\nb\nc\rd"),
            vec![&b"a"[..], b"b", b"c", b"d"]
        );
        assert_eq!(split_lines(b"a\r\n"), vec![&b"a"[..]]);
        assert_eq!(split_lines(b"\n\n"), vec![&b""[..], b""]);
    }
}

//! The fields of an entry: escapes, `<character-string>`s, names, TTLs,
//! numbers, record types and classes (RFC 1035 section 5.1).

use super::lex::Token;
use super::{Name, RecordType};

/// Largest TTL accepted (RFC 2181 section 8: the top bit must be zero).
const MAX_TTL: u32 = i32::MAX as u32;

/// The SPF record type (RFC 4408; obsoleted by RFC 7208 but still met).
pub(super) const SPF: u16 = 99;

/// Why an escape (`\X`, `\DDD`) is bad.
#[derive(Debug, thiserror::Error)]
pub(super) enum EscapeError {
    #[error("a '\\' ends the text")]
    Trailing,
    #[error("\\DDD escape needs three decimal digits")]
    Digits,
    #[error("escape \\{0:03} is above 255")]
    Above255(u32),
}

/// Why a `<character-string>` is bad.
#[derive(Debug, thiserror::Error)]
pub(super) enum StringError {
    /// A bad escape in the token (shown).
    #[error("bad string {shown}: {why}")]
    Escape { shown: String, why: EscapeError },
    #[error("string of {0} bytes, longer than 255 (split it into several quoted strings)")]
    TooLong(usize),
}

/// Why a domain name is bad.
#[derive(Debug, thiserror::Error)]
pub(super) enum NameError {
    #[error("\"@\" but no origin is known yet (add $ORIGIN)")]
    AtWithoutOrigin,
    #[error("empty name")]
    Empty,
    #[error("empty label")]
    EmptyLabel,
    #[error(transparent)]
    Escape(EscapeError),
    #[error("label of {0} bytes, longer than 63")]
    LabelTooLong(usize),
    #[error("relative name but no origin is known (add $ORIGIN, or end the name with a dot)")]
    RelativeWithoutOrigin,
    #[error("name of {0} bytes, longer than 255")]
    TooLong(usize),
    /// hickory-proto refused the labels: its message.
    #[error("{0}")]
    Hickory(String),
}

/// Why a TTL is bad (the token, shown).
#[derive(Debug, thiserror::Error)]
pub(super) enum TtlError {
    #[error("bad TTL {0}")]
    Bad(String),
    #[error("TTL {0} is too large")]
    TooLarge(String),
    #[error("TTL {0} is above {MAX_TTL} (RFC 2181 section 8)")]
    AboveMax(String),
}

/// A number field that is not a number of its range: which field, the
/// token (shown), the record type and the range.
#[derive(Debug, thiserror::Error)]
#[error("bad {what} {shown} in {} record ({range})", type_name(*.rtype))]
pub(super) struct NumberError {
    what: &'static str,
    shown: String,
    rtype: RecordType,
    range: &'static str,
}

/// Decode `\X` and `\DDD` (decimal) escapes.
pub(super) fn unescape(text: &[u8]) -> Result<Vec<u8>, EscapeError> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        match text.get(i + 1) {
            None => return Err(EscapeError::Trailing),
            Some(d) if d.is_ascii_digit() => {
                let digits = text
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(u8::is_ascii_digit));
                let Some(digits) = digits else {
                    return Err(EscapeError::Digits);
                };
                let value = digits
                    .iter()
                    .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
                let Ok(byte) = u8::try_from(value) else {
                    return Err(EscapeError::Above255(value));
                };
                out.push(byte);
                i += 4;
            }
            Some(&x) => {
                out.push(x);
                i += 2;
            }
        }
    }
    Ok(out)
}

/// A `<character-string>` (RFC 1035 section 3.3): at most 255 bytes.
pub(super) fn character_string(token: &Token) -> Result<Vec<u8>, StringError> {
    let bytes = unescape(&token.text).map_err(|why| StringError::Escape {
        shown: token.shown(),
        why,
    })?;
    if bytes.len() > 255 {
        return Err(StringError::TooLong(bytes.len()));
    }
    Ok(bytes)
}

/// A domain name: absolute if it ends with an unescaped dot, else relative to
/// `origin`; `@` is the origin.
pub(super) fn parse_name(token: &Token, origin: Option<&Name>) -> Result<Name, NameError> {
    if token.is("@") {
        return origin.cloned().ok_or(NameError::AtWithoutOrigin);
    }
    let text = &token.text;
    if text.is_empty() {
        return Err(NameError::Empty);
    }
    if text.as_slice() == b"." {
        return Ok(Name::root());
    }
    let mut labels: Vec<Vec<u8>> = Vec::new();
    let mut label = Vec::new();
    let mut absolute = false;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'.' => {
                if label.is_empty() {
                    return Err(NameError::EmptyLabel);
                }
                labels.push(std::mem::take(&mut label));
                if i + 1 == text.len() {
                    absolute = true;
                }
                i += 1;
            }
            b'\\' => {
                let end = match text.get(i + 1) {
                    Some(d) if d.is_ascii_digit() => (i + 4).min(text.len()),
                    Some(_) => i + 2,
                    None => i + 1,
                };
                label.extend(unescape(&text[i..end]).map_err(NameError::Escape)?);
                i = end;
            }
            c => {
                label.push(c);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        labels.push(label);
    }
    if let Some(long) = labels.iter().find(|l| l.len() > 63) {
        return Err(NameError::LabelTooLong(long.len()));
    }
    let mut wire = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
    if !absolute {
        let Some(origin) = origin else {
            return Err(NameError::RelativeWithoutOrigin);
        };
        wire += origin.iter().map(|l| l.len() + 1).sum::<usize>();
        labels.extend(origin.iter().map(<[u8]>::to_vec));
    }
    if wire > 255 {
        return Err(NameError::TooLong(wire));
    }
    Name::from_labels(labels.iter().map(Vec::as_slice))
        .map_err(|e| NameError::Hickory(e.to_string()))
}

/// A TTL: seconds, or with units (`1w2d3h4m5s`).
pub(super) fn parse_ttl(token: &Token) -> Result<u32, TtlError> {
    let bad = || TtlError::Bad(token.shown());
    let text = token.as_str().ok_or_else(bad)?;
    if token.quoted || !text.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(number.unwrap_or(0) * 10 + u64::from(d));
            if number > Some(u64::from(u32::MAX)) {
                return Err(TtlError::TooLarge(token.shown()));
            }
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        total += number.take().ok_or_else(bad)? * unit;
        if total > u64::from(u32::MAX) {
            return Err(TtlError::TooLarge(token.shown()));
        }
    }
    total += number.unwrap_or(0);
    if total > u64::from(MAX_TTL) {
        return Err(TtlError::AboveMax(token.shown()));
    }
    Ok(total as u32)
}

/// A number type of RDATA fields, with its range for messages.
pub(super) trait Number: std::str::FromStr {
    /// `0-MAX`.
    const RANGE: &'static str;
}

impl Number for u16 {
    const RANGE: &'static str = "0-65535";
}

impl Number for u32 {
    const RANGE: &'static str = "0-4294967295";
}

/// A decimal number of the range of `T` (only digits, no sign); `what`
/// names the field in the message.
pub(super) fn parse_number<T: Number>(
    token: &Token,
    what: &'static str,
    rtype: RecordType,
) -> Result<T, NumberError> {
    token
        .as_str()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| NumberError {
            what,
            shown: token.shown(),
            rtype,
            range: T::RANGE,
        })
}

/// A record type mnemonic or `TYPEnn` (RFC 3597 section 5).
pub(super) fn parse_type(upper: &str) -> Option<RecordType> {
    if let Some(n) = upper.strip_prefix("TYPE") {
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return n.parse::<u16>().ok().map(RecordType::from);
    }
    if upper == "SPF" {
        return Some(RecordType::from(SPF));
    }
    if upper == "*" {
        return None;
    }
    upper.parse::<RecordType>().ok()
}

pub(super) fn is_class(upper: &str) -> bool {
    matches!(upper, "IN" | "CH" | "CS" | "HS" | "NONE")
        || upper
            .strip_prefix("CLASS")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

pub(super) fn type_name(rtype: RecordType) -> String {
    match rtype {
        RecordType::Unknown(SPF) => "SPF".into(),
        RecordType::Unknown(n) => format!("TYPE{n}"),
        t => t.to_string(),
    }
}

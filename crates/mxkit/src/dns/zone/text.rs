//! The fields of an entry: escapes, `<character-string>`s, names, TTLs,
//! numbers, record types and classes (RFC 1035 section 5.1).

use super::lex::Token;
use super::{Name, RecordType};

/// Largest TTL accepted (RFC 2181 section 8: the top bit must be zero).
const MAX_TTL: u32 = i32::MAX as u32;

/// The SPF record type (RFC 4408; obsoleted by RFC 7208 but still met).
pub(super) const SPF: u16 = 99;

/// Decode `\X` and `\DDD` (decimal) escapes.
pub(super) fn unescape(text: &[u8]) -> Result<Vec<u8>, String> {
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
            None => return Err("a '\\' ends the text".into()),
            Some(d) if d.is_ascii_digit() => {
                let digits = text
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(u8::is_ascii_digit));
                let Some(digits) = digits else {
                    return Err("\\DDD escape needs three decimal digits".into());
                };
                let value = digits
                    .iter()
                    .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
                let Ok(byte) = u8::try_from(value) else {
                    return Err(format!("escape \\{value:03} is above 255"));
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
pub(super) fn character_string(token: &Token) -> Result<Vec<u8>, String> {
    let bytes = unescape(&token.text).map_err(|e| format!("bad string {}: {e}", token.shown()))?;
    if bytes.len() > 255 {
        return Err(format!(
            "string of {} bytes, longer than 255 (split it into several quoted strings)",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// A domain name: absolute if it ends with an unescaped dot, else relative to
/// `origin`; `@` is the origin.
pub(super) fn parse_name(token: &Token, origin: Option<&Name>) -> Result<Name, String> {
    if token.is("@") {
        return origin
            .cloned()
            .ok_or_else(|| "\"@\" but no origin is known yet (add $ORIGIN)".into());
    }
    let text = &token.text;
    if text.is_empty() {
        return Err("empty name".into());
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
                    return Err("empty label".into());
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
                label.extend(unescape(&text[i..end])?);
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
        return Err(format!("label of {} bytes, longer than 63", long.len()));
    }
    let mut wire = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
    if !absolute {
        let Some(origin) = origin else {
            return Err("relative name but no origin is known (add $ORIGIN, \
                        or end the name with a dot)"
                .into());
        };
        wire += origin.iter().map(|l| l.len() + 1).sum::<usize>();
        labels.extend(origin.iter().map(<[u8]>::to_vec));
    }
    if wire > 255 {
        return Err(format!("name of {wire} bytes, longer than 255"));
    }
    Name::from_labels(labels.iter().map(Vec::as_slice)).map_err(|e| e.to_string())
}

/// A TTL: seconds, or with units (`1w2d3h4m5s`).
pub(super) fn parse_ttl(token: &Token) -> Result<u32, String> {
    let bad = || format!("bad TTL {}", token.shown());
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
                return Err(format!("TTL {} is too large", token.shown()));
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
            return Err(format!("TTL {} is too large", token.shown()));
        }
    }
    total += number.unwrap_or(0);
    if total > u64::from(MAX_TTL) {
        return Err(format!(
            "TTL {} is above {MAX_TTL} (RFC 2181 section 8)",
            token.shown()
        ));
    }
    Ok(total as u32)
}

pub(super) fn parse_u16(token: &Token, what: &str, rtype: &str) -> Result<u16, String> {
    token
        .as_str()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad {what} {} in {rtype} record (0-65535)", token.shown()))
}

pub(super) fn parse_u32(token: &Token, what: &str, rtype: &str) -> Result<u32, String> {
    token
        .as_str()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "bad {what} {} in {rtype} record (0-4294967295)",
                token.shown()
            )
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

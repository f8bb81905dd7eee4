//! Mail addresses and domains, as a sending server reads them.
//!
//! Words:
//! - a **mailbox** is `local-part@domain` (RFC 5321 section 4.1.2); the local
//!   part may be a dot-atom or a quoted string, and is never touched (only the
//!   domain is converted: jstedfast/MailKit#1026 is what happens otherwise);
//! - the **destination** is what routing works on: a [`Domain`] (queried in
//!   DNS) or an **address literal** `[192.0.2.1]` / `[IPv6:2001:db8::1]`
//!   (RFC 5321 section 4.1.3), which skips DNS;
//! - a [`Domain`] is kept in A-label form (IDNA2008, RFC 5890/5891), lower
//!   case, and always absolute: `intranet` is the name `intranet.`, never
//!   completed with a search list (RFC 5321 section 5.1: relays MUST NOT guess).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

/// Longest domain name in presentation form without the final dot (RFC 1035
/// section 2.3.4: 255 octets on the wire, which is 253 characters of text).
pub const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035 section 2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Longest local part (RFC 5321 section 4.5.3.1.1).
pub const MAX_LOCAL_PART_LEN: usize = 64;

/// Why an address or a domain cannot be used. Every variant is permanent: the
/// address itself is wrong (enhanced status 5.1.3, RFC 3463).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Nothing was given.
    #[error("empty address")]
    Empty,
    /// A control character (CR, LF, NUL, ...) anywhere in the address.
    #[error("control character U+{0:04X} in address")]
    ControlCharacter(u32),
    /// `user@` with nothing after the `@`.
    #[error("no domain after '@'")]
    NoDomain,
    /// The local part is not a dot-atom or a quoted string.
    #[error("bad local part {0:?}: {1}")]
    BadLocalPart(String, &'static str),
    /// An address literal that is not `[IPv4]` or `[IPv6:...]`.
    #[error("bad address literal [{0}]: {1}")]
    BadLiteral(String, &'static str),
    /// The domain could not be converted to A-labels (IDNA2008).
    #[error("domain {0:?} is not a valid internationalized domain name")]
    Idna(String),
    /// A label longer than 63 octets.
    #[error("label {0:?} is {1} octets long (at most {MAX_LABEL_LEN})")]
    LabelTooLong(String, usize),
    /// A name longer than 253 characters.
    #[error("domain is {0} characters long (at most {MAX_NAME_LEN})")]
    NameTooLong(usize),
    /// `a..b`, or a leading dot.
    #[error("empty label in domain {0:?}")]
    EmptyLabel(String),
    /// A label with characters a host name cannot have.
    #[error("label {0:?} is not a host name label: {1}")]
    BadLabel(String, &'static str),
    /// A bare IP address where a domain belongs.
    #[error("{0} is an IP address, not a domain: write it as an address literal [{0}]")]
    LooksLikeIp(String),
}

/// A domain in A-label form, lower case, absolute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Domain {
    name: Name,
    text: String,
    unicode: Option<String>,
}

impl Domain {
    /// Parse a domain given by a person or a message: U-labels are converted
    /// to A-labels (IDNA2008, UTS 46 non-transitional), a final dot is
    /// allowed, and the result must be a valid host name (RFC 5321 section
    /// 4.1.2 `Domain`: letters, digits, hyphens).
    pub fn parse(input: &str) -> Result<Domain, AddressError> {
        match Domain::plain(input) {
            Some(domain) => Ok(domain),
            None => Domain::parse_text(input),
        }
    }

    /// [`Domain::parse`] for any text: the way that decides.
    fn parse_text(input: &str) -> Result<Domain, AddressError> {
        check_controls(input)?;
        let trimmed = input.strip_suffix('.').unwrap_or(input);
        if trimmed.is_empty() {
            return Err(AddressError::Empty);
        }
        // Only digits and dots can be an IPv4 address, only text with a
        // colon an IPv6 one: most names skip both parsers.
        let maybe_v4 = trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if (maybe_v4 && trimmed.parse::<Ipv4Addr>().is_ok())
            || (trimmed.contains(':') && trimmed.parse::<Ipv6Addr>().is_ok())
        {
            return Err(AddressError::LooksLikeIp(trimmed.to_string()));
        }
        if trimmed.split('.').any(str::is_empty) {
            return Err(AddressError::EmptyLabel(input.to_string()));
        }
        let ascii = if trimmed.is_ascii() {
            trimmed.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii_strict(trimmed)
                .map_err(|_| AddressError::Idna(input.to_string()))?
        };
        validate_host_text(&ascii)?;
        // Labels of letters, digits and hyphens now: added as they are,
        // without hickory's text parser (escapes, per-character checks).
        let mut name = Name::root();
        for label in ascii.split('.') {
            name = name
                .append_label(label.as_bytes())
                .map_err(|_| AddressError::Idna(input.to_string()))?;
        }
        let unicode = (!trimmed.is_ascii()).then(|| trimmed.to_string());
        Ok(Domain {
            name,
            text: ascii,
            unicode,
        })
    }

    /// [`Domain::parse`] for the text nearly every input is, in one pass
    /// over its bytes: a valid host name of letters, digits, hyphens and
    /// dots (a final dot allowed) with a label that is not all digits.
    /// `None` sends anything else (U-labels, an IP address, an error) the
    /// longer way, which decides; where both answer they agree (a property
    /// test). A scan parses millions of names: the longer way's passes
    /// (controls, IP shapes, empty labels, lower case, the host name rules)
    /// showed in its profiles.
    fn plain(input: &str) -> Option<Domain> {
        let trimmed = input.strip_suffix('.').unwrap_or(input);
        if trimmed.is_empty() || trimmed.len() > MAX_NAME_LEN {
            return None;
        }
        let mut all_digits = true;
        for label in trimmed.as_bytes().split(|b| *b == b'.') {
            all_digits &= host_label(label)?;
        }
        if all_digits {
            // Maybe an IPv4 address.
            return None;
        }
        let text = trimmed.to_ascii_lowercase();
        let mut name = Name::root();
        for label in text.split('.') {
            name = name.append_label(label.as_bytes()).ok()?;
        }
        Some(Domain {
            name,
            text,
            unicode: None,
        })
    }

    /// The absolute name to query (`example.org.`).
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The A-label text without the final dot (`xn--bcher-kva.example`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The form the user typed, when it had U-labels.
    pub fn unicode(&self) -> Option<&str> {
        self.unicode.as_deref()
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where mail for an address goes before any DNS is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A domain: MX lookup follows.
    Domain(Domain),
    /// An address literal: the one candidate, no DNS (RFC 5321 section 4.1.3,
    /// RFC 1123 section 5.2.17).
    Literal(IpAddr),
}

impl fmt::Display for Destination {
    /// The domain (A-labels, no final dot), or the literal as an address
    /// writes it (RFC 5321 section 4.1.3): `[192.0.2.1]`,
    /// `[IPv6:2001:db8::1]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Domain(d) => f.write_str(d.as_str()),
            Destination::Literal(IpAddr::V4(v4)) => write!(f, "[{v4}]"),
            Destination::Literal(IpAddr::V6(v6)) => write!(f, "[IPv6:{v6}]"),
        }
    }
}

/// A parsed address: an optional local part and the destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// The local part exactly as given (quotes kept), or `None` for a bare domain.
    pub local: Option<String>,
    /// The domain or address literal.
    pub destination: Destination,
}

impl Address {
    /// Parse `user@domain`, `"quoted local"@domain`, `user@[192.0.2.1]`,
    /// `user@[IPv6:2001:db8::1]`, a bare domain or a bare literal.
    pub fn parse(input: &str) -> Result<Address, AddressError> {
        // A bare host name (a scan's every line): no local part to find.
        if let Some(domain) = Domain::plain(input) {
            return Ok(Address {
                local: None,
                destination: Destination::Domain(domain),
            });
        }
        check_controls(input)?;
        let input = input.trim();
        if input.is_empty() {
            return Err(AddressError::Empty);
        }
        let (local, domain) = match split_at_domain(input)? {
            Some((local, domain)) => {
                validate_local(local)?;
                (Some(local.to_string()), domain)
            }
            None => (None, input),
        };
        if domain.is_empty() {
            return Err(AddressError::NoDomain);
        }
        let destination = match domain.strip_prefix('[') {
            Some(rest) => {
                let inner = rest
                    .strip_suffix(']')
                    .ok_or_else(|| AddressError::BadLiteral(rest.to_string(), "no closing ']'"))?;
                Destination::Literal(parse_literal(inner)?)
            }
            None => Destination::Domain(Domain::parse(domain)?),
        };
        Ok(Address { local, destination })
    }
}

/// Split at the `@` that separates local part and domain: the last one
/// outside a quoted string. `None` when there is no `@` (a bare domain).
fn split_at_domain(input: &str) -> Result<Option<(&str, &str)>, AddressError> {
    let mut in_quotes = false;
    let mut escaped = false;
    let mut at = None;
    for (i, c) in input.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '@' if !in_quotes => at = Some(i),
            _ => {}
        }
    }
    if in_quotes {
        return Err(AddressError::BadLocalPart(
            input.to_string(),
            "unterminated quoted string",
        ));
    }
    Ok(at.map(|i| (&input[..i], &input[i + 1..])))
}

/// RFC 5321 section 4.1.2: `Local-part = Dot-string / Quoted-string`, with
/// UTF-8 allowed (RFC 6531 section 3.3).
fn validate_local(local: &str) -> Result<(), AddressError> {
    let bad = |why| Err(AddressError::BadLocalPart(local.to_string(), why));
    if local.is_empty() {
        return bad("empty");
    }
    if local.len() > MAX_LOCAL_PART_LEN {
        return bad("longer than 64 octets");
    }
    if let Some(inner) = local.strip_prefix('"') {
        let Some(inner) = inner.strip_suffix('"') else {
            return bad("text after the closing quote");
        };
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.next().is_none() => {
                    return bad("backslash at the end of the quoted string");
                }
                '"' => return bad("unescaped quote inside the quoted string"),
                _ => {}
            }
        }
        return Ok(());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return bad("a dot at the start, at the end or twice in a row");
    }
    // atext (RFC 5322 section 3.2.3) plus UTF-8 (RFC 6531).
    let atext =
        |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) || !c.is_ascii();
    if !local.chars().all(atext) {
        return bad("characters that need quoting");
    }
    Ok(())
}

/// RFC 5321 section 4.1.3: `IPv4-address-literal` or `"IPv6:" IPv6-addr`
/// (the tag is case-insensitive, as ABNF strings are).
fn parse_literal(inner: &str) -> Result<IpAddr, AddressError> {
    let bad = |why| Err(AddressError::BadLiteral(inner.to_string(), why));
    // `get`, not `[..5]`: byte 5 may fall inside a multi-byte character.
    if inner.len() > 5
        && inner
            .get(..5)
            .is_some_and(|tag| tag.eq_ignore_ascii_case("ipv6:"))
    {
        return match inner[5..].parse::<Ipv6Addr>() {
            Ok(ip) => Ok(IpAddr::V6(ip)),
            Err(_) => bad("not an IPv6 address after the IPv6: tag"),
        };
    }
    if inner.parse::<Ipv6Addr>().is_ok() {
        return bad("an IPv6 literal needs the IPv6: tag");
    }
    if inner.contains(':') {
        return bad("unknown literal tag (only IPv6: is standardized)");
    }
    match inner.parse::<Ipv4Addr>() {
        Ok(ip) => Ok(IpAddr::V4(ip)),
        Err(_) => bad("not an IPv4 address"),
    }
}

fn check_controls(input: &str) -> Result<(), AddressError> {
    match input.chars().find(|c| c.is_control()) {
        Some(c) => Err(AddressError::ControlCharacter(c as u32)),
        None => Ok(()),
    }
}

/// Check A-label text (no final dot) as a host name: labels of letters,
/// digits and hyphens, not starting or ending with a hyphen (RFC 1123 section
/// 2.1, RFC 5321 section 4.1.2 `sub-domain`), within the length limits.
fn validate_host_text(ascii: &str) -> Result<(), AddressError> {
    if ascii.len() > MAX_NAME_LEN {
        return Err(AddressError::NameTooLong(ascii.len()));
    }
    for label in ascii.split('.') {
        if label.is_empty() {
            return Err(AddressError::EmptyLabel(ascii.to_string()));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(AddressError::LabelTooLong(label.to_string(), label.len()));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(AddressError::BadLabel(
                label.to_string(),
                "only letters, digits and hyphens are allowed",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(AddressError::BadLabel(
                label.to_string(),
                "starts or ends with a hyphen",
            ));
        }
    }
    Ok(())
}

/// What an MX target (an exchange name from DNS) is, for RFC 5321 section 5.1
/// ¶4: the target "MUST contain a domain name".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExchangeName {
    /// The root name `.`: null MX (RFC 7505).
    Root,
    /// A valid host name.
    Host,
    /// A name that is an IP address in disguise (`192.0.2.7.`).
    Ip(IpAddr),
    /// Not a host name; why.
    Invalid(String),
}

/// Classify an exchange name taken from an MX record.
pub fn classify_exchange(name: &Name) -> ExchangeName {
    if name.is_root() {
        return ExchangeName::Root;
    }
    if is_plain_host(name) {
        return ExchangeName::Host;
    }
    classify_exchange_text(name)
}

/// [`classify_exchange`] on the name's text, saying what is wrong.
fn classify_exchange_text(name: &Name) -> ExchangeName {
    if name.is_root() {
        return ExchangeName::Root;
    }
    let labels: Vec<&[u8]> = name.iter().collect();
    let text: Vec<String> = labels
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let joined = text.join(".");
    if let Ok(ip) = joined.parse::<Ipv4Addr>() {
        return ExchangeName::Ip(IpAddr::V4(ip));
    }
    if let [one] = text.as_slice()
        && let Ok(ip) = one.parse::<Ipv6Addr>()
    {
        return ExchangeName::Ip(IpAddr::V6(ip));
    }
    if labels.iter().any(|l| l.contains(&b'.')) {
        return ExchangeName::Invalid("a label contains a dot".into());
    }
    match validate_host_text(&joined.to_ascii_lowercase()) {
        Ok(()) => ExchangeName::Host,
        Err(e) => ExchangeName::Invalid(exchange_problem(&labels, e)),
    }
}

/// Why an exchange name is not a host name, with the label at fault
/// written as names are everywhere in reports ([`display_label`]: `\DDD`),
/// not as the text a user typed is.
fn exchange_problem(labels: &[&[u8]], e: AddressError) -> String {
    let shown = |text: &str| {
        labels
            .iter()
            .find(|l| String::from_utf8_lossy(l).to_ascii_lowercase() == text)
            .map_or_else(|| display_label(text.as_bytes()), |l| display_label(l))
    };
    match e {
        AddressError::BadLabel(label, why) => {
            format!(
                "label \"{}\" is not a host name label: {why}",
                shown(&label)
            )
        }
        AddressError::LabelTooLong(label, n) => format!(
            "label \"{}\" is {n} octets long (at most {MAX_LABEL_LEN})",
            shown(&label)
        ),
        other => other.to_string(),
    }
}

/// Whether `name` is a valid host name that is not an IPv4 address in
/// disguise, seen on its bytes: what [`classify_exchange`] answers
/// [`ExchangeName::Host`] for, for the names nearly every MX record holds,
/// without the text it builds to say what is wrong with the others (and
/// the allocations that text costs, once for each exchanger a scan meets).
/// `false` sends a name to that longer way, which decides.
fn is_plain_host(name: &Name) -> bool {
    let mut all_digits = true;
    let mut text_len = 0;
    for (i, label) in name.iter().enumerate() {
        let Some(digits) = host_label(label) else {
            return false;
        };
        all_digits &= digits;
        text_len += label.len() + usize::from(i > 0);
    }
    // Four labels of digits may be an IPv4 address (`192.0.2.7.`).
    !all_digits && text_len <= MAX_NAME_LEN
}

/// Whether `label` is a host name label (RFC 1123 section 2.1: 1 to 63
/// letters, digits and hyphens, no hyphen first or last), seen on its
/// bytes: `Some(true)` when it is all digits, `None` when it is no host
/// name label.
fn host_label(label: &[u8]) -> Option<bool> {
    let (&first, &last) = (label.first()?, label.last()?);
    let ldh = label
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    (ldh && label.len() <= MAX_LABEL_LEN && first != b'-' && last != b'-')
        .then(|| label.iter().all(u8::is_ascii_digit))
}

/// A name as text for people: lower-case A-labels without the final dot,
/// with bytes a terminal could misread escaped (`\DDD`, RFC 1035 section 5.1).
pub fn display_name(name: &Name) -> String {
    if name.is_root() {
        return ".".to_string();
    }
    let mut out = Vec::with_capacity(name.len());
    for (i, label) in name.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        push_label(&mut out, label);
    }
    ascii_text(out)
}

/// Bytes [`push_label`] wrote (printable ASCII only) as text: one check
/// of the whole name, not a character at a time.
fn ascii_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Text from DNS or a server as a TXT string in a zone file shows it
/// (RFC 1035 section 5.1): printable ASCII as it is, `"` and `\` behind a
/// backslash, every other byte as `\DDD`. The result is printable ASCII
/// only, so remote text reaches a terminal as nothing but text; reports
/// quote it with [`quoted`].
pub fn display_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out
}

/// [`display_text`] between double quotes: `"v=STSv1\009id=1"`, the one
/// way reports quote text a remote party controls.
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", display_text(text.as_bytes()))
}

/// One label as [`display_name`] writes it: lower case, `\DDD` for bytes
/// outside printable ASCII, `\` before the characters a zone file gives a
/// meaning to.
pub fn display_label(label: &[u8]) -> String {
    let mut out = Vec::with_capacity(label.len());
    push_label(&mut out, label);
    ascii_text(out)
}

/// One label in lower case, escaped as [`display_label`] says: printable
/// ASCII out, whatever the label holds.
fn push_label(out: &mut Vec<u8>, label: &[u8]) {
    // A label of letters, digits and hyphens (nearly all) as it is.
    if label
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    {
        out.extend(label.iter().map(u8::to_ascii_lowercase));
        return;
    }
    for &b in label {
        match b {
            b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b' ' => {
                out.push(b'\\');
                out.push(b);
            }
            0x21..=0x7e => out.push(b.to_ascii_lowercase()),
            _ => {
                out.push(b'\\');
                out.extend_from_slice(&[b'0' + b / 100, b'0' + b / 10 % 10, b'0' + b % 10]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The byte-wise shortcut answers as the text does, for names of
        /// every kind (digits, hyphens at either end, dots and underscores
        /// inside labels, names near the length limit).
        #[test]
        fn plain_hosts_are_classified_as_the_text_says(
            labels in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(b"aaaa9999-._".to_vec()), 1..10),
                1..40,
            )
        ) {
            // Past 255 octets it is no name (hickory refuses it).
            let Ok(name) = Name::from_labels(labels) else { return Ok(()) };
            proptest::prop_assert_eq!(classify_exchange(&name), classify_exchange_text(&name));
        }

        /// The one-pass way for plain host names gives what the longer way
        /// gives, case and all, wherever it answers (digits, hyphens at
        /// either end, empty labels, a final dot, upper case, names near
        /// the length limits, IPv4 shapes).
        #[test]
        fn plain_domains_parse_as_the_text_says(
            text in "([a-cA-C0-9-]{0,3}[.]?){0,4}|[0-9]{1,3}([.][0-9]{1,3}){3}|[a-z]{60,66}[.][a-z]{2}|([a-z]{50}[.]){4}[a-z]{1,60}[.]?"
        ) {
            if let Some(plain) = Domain::plain(&text) {
                let text_way = Domain::parse_text(&text);
                proptest::prop_assert_eq!(Ok(&plain), text_way.as_ref());
                let text_way = text_way.unwrap();
                proptest::prop_assert_eq!(plain.name().to_ascii(), text_way.name().to_ascii());
                proptest::prop_assert_eq!(plain.name().is_fqdn(), text_way.name().is_fqdn());
            }
        }
    }

    /// The one-pass way takes the plain names and leaves the rest.
    #[test]
    fn plain_domains_and_the_rest() {
        for plain in [
            "example.org",
            "Example.ORG.",
            "mx-1.example",
            "0a.example",
            "a",
        ] {
            assert!(Domain::plain(plain).is_some(), "{plain}");
        }
        for other in [
            "",
            ".",
            "192.0.2.1",
            "1.2.3",
            "a..b",
            "-a.example",
            "a-.example",
            "b\u{fc}cher.example",
            "a_b.example",
            "a.example..",
            "user@example.org",
        ] {
            assert!(Domain::plain(other).is_none(), "{other}");
        }
    }

    fn dest(s: &str) -> Destination {
        Address::parse(s).unwrap().destination
    }

    #[test]
    fn user_at_domain_is_lowercased_and_absolute() {
        let a = Address::parse("John.Doe@Example.ORG").unwrap();
        assert_eq!(a.local.as_deref(), Some("John.Doe"));
        match a.destination {
            Destination::Domain(d) => {
                assert_eq!(d.as_str(), "example.org");
                assert_eq!(d.name().to_ascii(), "example.org.");
                assert!(d.name().is_fqdn());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bare_domain_and_final_dot() {
        assert_eq!(dest("example.org."), dest("example.org"));
        assert_eq!(Address::parse("example.org").unwrap().local, None);
    }

    #[test]
    fn quoted_local_part_may_hold_at_and_spaces() {
        let a = Address::parse(r#""john @ doe"@example.org"#).unwrap();
        assert_eq!(a.local.as_deref(), Some(r#""john @ doe""#));
        assert_eq!(dest(r#""a\"b"@example.org"#), dest("example.org"));
    }

    #[test]
    fn rfc5321_4_1_3_ipv4_literal() {
        assert_eq!(
            dest("user@[192.0.2.1]"),
            Destination::Literal("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn rfc5321_4_1_3_ipv6_literal_tag_is_case_insensitive() {
        let want = Destination::Literal("2001:db8::1".parse().unwrap());
        assert_eq!(dest("user@[IPv6:2001:db8::1]"), want);
        assert_eq!(dest("user@[ipv6:2001:db8::1]"), want);
        assert_eq!(dest("user@[IPV6:2001:DB8::1]"), want);
    }

    #[test]
    fn rfc5321_4_1_3_destinations_are_written_as_an_address_writes_them() {
        assert_eq!(dest("user@[192.0.2.1]").to_string(), "[192.0.2.1]");
        assert_eq!(
            dest("user@[ipv6:2001:DB8::1]").to_string(),
            "[IPv6:2001:db8::1]"
        );
        assert_eq!(
            dest("user@B\u{fc}cher.Example.").to_string(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn rfc5321_4_1_3_bad_literals_are_syntax_errors() {
        for bad in [
            "u@[2001:db8::1]",
            "u@[300.1.1.1]",
            "u@[IPv6:zz]",
            "u@[192.0.2.1",
            "u@[]",
        ] {
            assert!(
                matches!(Address::parse(bad), Err(AddressError::BadLiteral(..))),
                "{bad}: {:?}",
                Address::parse(bad)
            );
        }
    }

    #[test]
    fn idna2008_unicode_domain_becomes_a_labels() {
        match dest("user@bücher.example") {
            Destination::Domain(d) => {
                assert_eq!(d.name().to_ascii(), "xn--bcher-kva.example.");
                assert_eq!(d.unicode(), Some("bücher.example"));
            }
            other => panic!("{other:?}"),
        }
        // The local part is never converted.
        assert_eq!(
            Address::parse("jörg@bücher.example")
                .unwrap()
                .local
                .as_deref(),
            Some("jörg")
        );
    }

    #[test]
    fn single_label_stays_single_label() {
        match dest("user@intranet") {
            Destination::Domain(d) => assert_eq!(d.name().to_ascii(), "intranet."),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        let cases = [
            ("", "empty"),
            ("user@", "no domain"),
            ("user@exa mple.org", "space"),
            ("user@a..b", "empty label"),
            ("user@.example", "leading dot"),
            ("user@-bad.example", "hyphen"),
            ("user@under_score.example", "underscore"),
            (".user@example.org", "dot"),
            ("us..er@example.org", "dots"),
            ("us er@example.org", "space in local"),
            ("\"open@example.org", "unterminated quote"),
            ("user@example.org\r\nRCPT TO:<x@y>", "CRLF injection"),
            ("user@192.0.2.1", "bare IP"),
        ];
        for (input, why) in cases {
            assert!(
                Address::parse(input).is_err(),
                "{why}: {input:?} was accepted"
            );
        }
    }

    #[test]
    fn rfc1035_2_3_4_length_limits() {
        let label63 = "a".repeat(63);
        assert!(Domain::parse(&format!("{label63}.example")).is_ok());
        assert!(matches!(
            Domain::parse(&format!("{}a.example", label63)),
            Err(AddressError::LabelTooLong(_, 64))
        ));
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(matches!(
            Domain::parse(&long),
            Err(AddressError::NameTooLong(_))
        ));
        let local = "a".repeat(65);
        assert!(Address::parse(&format!("{local}@example.org")).is_err());
    }

    #[test]
    fn exchange_names_are_classified() {
        let n = |s: &str| Name::from_ascii(s).unwrap();
        assert_eq!(classify_exchange(&Name::root()), ExchangeName::Root);
        assert_eq!(
            classify_exchange(&n("mx1.example.org.")),
            ExchangeName::Host
        );
        assert_eq!(
            classify_exchange(&n("192.0.2.7.")),
            ExchangeName::Ip("192.0.2.7".parse().unwrap())
        );
        assert!(matches!(
            classify_exchange(&n(r"bad\.\.name.example.")),
            ExchangeName::Invalid(_)
        ));
        assert!(matches!(
            classify_exchange(&n("under_score.example.")),
            ExchangeName::Invalid(_)
        ));
    }

    #[test]
    fn display_name_escapes_what_a_terminal_could_misread() {
        let n = Name::from_labels(vec![&b"a\x1b[31m"[..], &b"Ex"[..]]).unwrap();
        assert_eq!(display_name(&n), r"a\027[31m.ex");
    }
}

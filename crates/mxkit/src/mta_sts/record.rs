//! The two TXT records of secure routing's policy layer: `_mta-sts.<domain>`
//! (RFC 8461 section 3.1; docs/rules/secure.md, Rule S7) and
//! `_smtp._tls.<domain>` (RFC 8460 section 3; Rule S12).
//!
//! Both are read the same way: the TXT answer's records, each record's
//! strings joined without separators (RFC 7208 section 3.3 style, which
//! RFC 8461 and RFC 8460 inherit); the records that do not begin with the
//! version tag are someone else's and are dropped; exactly one must be
//! left, and it must parse. Anything else means "no record", and
//! [`Records::problem`] says why, for `check` to report.

use crate::address::quoted;
use crate::dns::{Outcome, RData, Record};

/// The version tag an MTA-STS record starts with (RFC 8461 section 3.1:
/// "v=STSv1;" begins the record).
pub const STS_VERSION: &str = "v=STSv1";
/// The version tag a TLS-RPT record starts with (RFC 8460 section 3).
pub const TLSRPT_VERSION: &str = "v=TLSRPTv1";
/// Longest MTA-STS `id` (RFC 8461 section 3.1: `1*32(ALPHA / DIGIT)`).
pub const MAX_ID_LEN: usize = 32;

/// A valid `_mta-sts` TXT record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsRecord {
    /// The policy's `id`: changes whenever the policy does.
    pub id: String,
    /// Extension fields, in order (`name`, `value`).
    pub extensions: Vec<(String, String)>,
}

/// A valid `_smtp._tls` TXT record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsRptRecord {
    /// Where reports go: `mailto:` and `https:` URIs, in order.
    pub rua: Vec<String>,
}

/// The TXT records of one name, sorted for one protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Records<T> {
    /// The one valid record, when there is exactly one candidate and it
    /// parses.
    pub valid: Option<T>,
    /// Every candidate's text (records that begin with the version tag, and
    /// near misses such as `v=stsv1` or `v=STSv1 ;`), as published.
    pub candidates: Vec<String>,
    /// Why there is no valid record although some text looks like one:
    /// several candidates, or the one candidate does not parse.
    pub problem: Option<String>,
}

impl<T> Records<T> {
    fn none() -> Self {
        Records {
            valid: None,
            candidates: Vec::new(),
            problem: None,
        }
    }
}

/// The TXT records of an answer as strings (each record's character strings
/// joined; bytes that are not UTF-8 replaced, which no valid record has).
pub fn txt_strings(outcome: &Outcome) -> Vec<String> {
    outcome
        .records()
        .iter()
        .filter_map(|r: &Record| match &r.data {
            RData::TXT(txt) => {
                let joined: Vec<u8> = txt
                    .txt_data
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect();
                Some(String::from_utf8_lossy(&joined).into_owned())
            }
            _ => None,
        })
        .collect()
}

/// docs/rules/secure.md, Rule S7: the `_mta-sts` record among `texts`.
pub fn sts_records(texts: &[String]) -> Records<StsRecord> {
    select(texts, STS_VERSION, parse_sts)
}

/// docs/rules/secure.md, Rule S12: the `_smtp._tls` record among `texts`.
pub fn tlsrpt_records(texts: &[String]) -> Records<TlsRptRecord> {
    select(texts, TLSRPT_VERSION, parse_tlsrpt)
}

/// Keep the records that begin with `version` followed by `;` (or end
/// there), exactly as the RFCs filter; note near misses (another case,
/// spaces before the `;`) so that `check` can say why a record that looks
/// right is ignored by senders.
fn select<T>(texts: &[String], version: &str, parse: fn(&str) -> Result<T, String>) -> Records<T> {
    let mut out = Records::none();
    let mut exact = Vec::new();
    for text in texts {
        let trimmed = text.trim_start();
        let head = trimmed.get(..version.len());
        if !head.is_some_and(|h| h.eq_ignore_ascii_case(version)) {
            continue;
        }
        out.candidates.push(text.clone());
        let rest = &text[version.len().min(text.len())..];
        if text.starts_with(version) && (rest.is_empty() || rest.starts_with(';')) {
            exact.push(text.as_str());
        } else if out.problem.is_none() {
            out.problem = Some(format!(
                "{text} does not begin with exactly \"{version};\": senders ignore it",
                text = quoted(text)
            ));
        }
    }
    match exact.as_slice() {
        [] => {}
        [one] => match parse(one) {
            Ok(record) => {
                out.valid = Some(record);
                out.problem = None;
            }
            Err(why) => out.problem = Some(format!("{one}: {why}", one = quoted(one))),
        },
        several => {
            out.problem = Some(format!(
                "{} records begin with \"{version}\": senders use none of them (exactly one is allowed)",
                several.len()
            ));
        }
    }
    out
}

/// The fields after the version tag: `*WSP ";" *WSP` separated
/// `name=value` pairs, an empty last one allowed (a trailing `;`).
fn fields<'a>(text: &'a str, version: &str) -> Result<Vec<(&'a str, &'a str)>, String> {
    let rest = &text[version.len()..];
    let parts: Vec<&str> = rest.split(';').collect();
    // parts[0] is what stands between the version and the first ';': only
    // white space is allowed there.
    if !parts[0].trim_matches(is_wsp).is_empty() {
        return Err(format!("unexpected {} after {version}", quoted(parts[0])));
    }
    let mut out = Vec::new();
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate().skip(1) {
        let field = part.trim_matches(is_wsp);
        if field.is_empty() {
            if i == last {
                break;
            }
            return Err("an empty field (\";;\")".into());
        }
        let Some((name, value)) = field.split_once('=') else {
            return Err(format!(
                "field {field} is not name=value",
                field = quoted(field)
            ));
        };
        out.push((name, value));
    }
    if out.is_empty() {
        return Err("no field after the version".into());
    }
    Ok(out)
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// An extension name: `(ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`.
pub(crate) fn valid_ext_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// RFC 8461 section 3.1: `v=STSv1; id=...` with `1*32(ALPHA / DIGIT)` and
/// optional extensions (`sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)`).
fn parse_sts(text: &str) -> Result<StsRecord, String> {
    let mut id = None;
    let mut extensions = Vec::new();
    for (name, value) in fields(text, STS_VERSION)? {
        if name == "id" {
            if id.is_some() {
                return Err("id is given twice".into());
            }
            if value.is_empty() || value.len() > MAX_ID_LEN {
                return Err(format!(
                    "id {value} has {} characters; 1 to {MAX_ID_LEN} letters and digits are allowed",
                    value.len(),
                    value = quoted(value)
                ));
            }
            if !value.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "id {value} holds characters other than letters and digits",
                    value = quoted(value)
                ));
            }
            id = Some(value.to_string());
        } else {
            if !valid_ext_name(name) {
                return Err(format!(
                    "{name} is not a valid field name",
                    name = quoted(name)
                ));
            }
            let ok = !value.is_empty()
                && value
                    .bytes()
                    .all(|b| matches!(b, 0x21..=0x3a | 0x3c | 0x3e..=0x7e));
            if !ok {
                return Err(format!(
                    "field {name} has an invalid value {value}",
                    value = quoted(value)
                ));
            }
            extensions.push((name.to_string(), value.to_string()));
        }
    }
    match id {
        Some(id) => Ok(StsRecord { id, extensions }),
        None => Err("there is no id field".into()),
    }
}

/// RFC 8460 section 3: `v=TLSRPTv1; rua=URI[,URI...]`, URIs `mailto:` or
/// `https:`; extensions allowed.
fn parse_tlsrpt(text: &str) -> Result<TlsRptRecord, String> {
    let mut rua: Option<Vec<String>> = None;
    for (name, value) in fields(text, TLSRPT_VERSION)? {
        if name == "rua" {
            if rua.is_some() {
                return Err("rua is given twice".into());
            }
            let mut uris = Vec::new();
            for uri in value.split(',').map(|u| u.trim_matches(is_wsp)) {
                check_rua(uri)?;
                uris.push(uri.to_string());
            }
            rua = Some(uris);
        } else if !valid_ext_name(name) {
            return Err(format!(
                "{name} is not a valid field name",
                name = quoted(name)
            ));
        }
    }
    match rua {
        Some(rua) => Ok(TlsRptRecord { rua }),
        None => Err("there is no rua field".into()),
    }
}

/// One `rua` URI: `mailto:` with an address, or `https:` with a host.
fn check_rua(uri: &str) -> Result<(), String> {
    let bad_char = |s: &str| {
        s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ';')
    };
    let lower = uri.to_ascii_lowercase();
    if let Some(addr) = lower.strip_prefix("mailto:") {
        let addr = addr.split('!').next().unwrap_or("");
        let (local, domain) = addr.split_once('@').unwrap_or(("", ""));
        if local.is_empty() || !domain.contains('.') || bad_char(addr) {
            return Err(format!(
                "rua {uri} is not a mailto: URI with an address",
                uri = quoted(uri)
            ));
        }
        return Ok(());
    }
    if let Some(rest) = lower.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if host.is_empty() || bad_char(rest) {
            return Err(format!(
                "rua {uri} is not an https: URI with a host",
                uri = quoted(uri)
            ));
        }
        return Ok(());
    }
    Err(format!(
        "rua {uri}: only mailto: and https: URIs are allowed (RFC 8460 section 3)",
        uri = quoted(uri)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(texts: &[&str]) -> Records<StsRecord> {
        sts_records(&texts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn one_valid_record() {
        let r = sts(&["v=STSv1; id=20261201T1200"]);
        assert_eq!(r.valid.unwrap().id, "20261201T1200");
        let r = sts(&["v=STSv1;id=abc;", "v=spf1 -all"]);
        assert_eq!(r.valid.unwrap().id, "abc");
        assert_eq!(r.candidates.len(), 1);
        let r = sts(&["v=STSv1;  id=abc ;\text=1"]);
        assert_eq!(
            r.valid.unwrap().extensions,
            vec![("ext".into(), "1".into())]
        );
    }

    #[test]
    fn rule_s7_almost_valid_records_are_no_policy() {
        for (texts, why) in [
            (vec!["v=STSv1; id=a", "v=STSv1; id=b"], "2 records"),
            (vec!["v=STSv1;"], "no field"),
            (vec!["v=STSv1; ext=1"], "no id"),
            (vec!["v=STSv1; id=a; id=b"], "twice"),
            (
                vec!["v=STSv1; id=0123456789012345678901234567890123456789"],
                "40 characters",
            ),
            (vec!["v=STSv1; id=a-b"], "other than letters"),
            (vec!["v=STSv1; id="], "0 characters"),
            (vec!["v=STSv1 ; id=a"], "does not begin"),
            (vec!["v=stsv1; id=a"], "does not begin"),
            (vec!["v=STSv1; id=a;; x=1"], "empty field"),
            (vec!["v=STSv1x; id=a"], "does not begin"),
            (vec!["v=STSv1; id=a; bad name=1"], "not a valid field name"),
        ] {
            let r = sts(&texts);
            assert!(r.valid.is_none(), "{texts:?}");
            let problem = r.problem.unwrap_or_default();
            assert!(problem.contains(why), "{texts:?}: {problem}");
        }
        let r = sts(&["v=spf1 -all"]);
        assert!(r.valid.is_none() && r.problem.is_none() && r.candidates.is_empty());
    }

    #[test]
    fn tlsrpt() {
        let t = |s: &str| tlsrpt_records(&[s.to_string()]);
        let r = t("v=TLSRPTv1; rua=mailto:tls@example.org,https://r.example.org/tls");
        assert_eq!(
            r.valid.unwrap().rua,
            vec!["mailto:tls@example.org", "https://r.example.org/tls"]
        );
        for (bad, why) in [
            ("v=TLSRPTv1;", "no field"),
            ("v=TLSRPTv1; rua=ftp://x.example", "only mailto"),
            ("v=TLSRPTv1; rua=mailto:nobody", "not a mailto"),
            ("v=TLSRPTv1; ext=1", "no rua"),
            ("v=TLSRPTv1; rua=https://", "not an https"),
        ] {
            let r = t(bad);
            assert!(r.valid.is_none(), "{bad}");
            assert!(
                r.problem.as_deref().unwrap_or("").contains(why),
                "{bad}: {:?}",
                r.problem
            );
        }
    }
}

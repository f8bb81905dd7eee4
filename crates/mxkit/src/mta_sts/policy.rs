//! The MTA-STS policy file (RFC 8461 section 3.2; docs/rules/secure.md,
//! Rule S8) and its `mx` patterns (section 4.1; Rule S10).
//!
//! The parser is strict where senders disagree and the RFC is silent: a key
//! other than `mx` given twice makes the policy invalid (some senders take
//! the first, some the last; a domain owner should know), and so does a line
//! that is not `key: value`. Unknown keys are ignored, as the RFC says.

use serde::Serialize;

use super::record::valid_ext_name;
use crate::address::quoted;

/// Largest policy body read (docs/rules/secure.md, Rule S8; RFC 8461
/// section 3.3 lets senders pick a limit: 64 KiB, as Gmail and Stalwart).
pub const MAX_POLICY_SIZE: usize = 64 * 1024;
/// Largest `max_age` (RFC 8461 section 3.2: 31557600 seconds, about a year).
pub const MAX_MAX_AGE: u32 = 31_557_600;

/// What a policy asks of senders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deliver only to matching exchangers, over TLS with a PKIX-valid
    /// certificate.
    Enforce,
    /// Report failures; deliver as without a policy.
    Testing,
    /// No policy (a way to withdraw one).
    None,
}

impl Mode {
    /// The word in the policy file and the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A valid policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `mode`.
    pub mode: Mode,
    /// `max_age` in seconds: how long a sender keeps it.
    pub max_age: u32,
    /// The `mx` patterns, lower case, no final dot, in order.
    pub mx: Vec<String>,
}

impl Policy {
    /// Parse a policy body (docs/rules/secure.md, Rule S8). The error says
    /// what is wrong, in words a domain owner can act on.
    pub fn parse(body: &[u8]) -> Result<Policy, String> {
        if body.len() > MAX_POLICY_SIZE {
            return Err(format!(
                "the policy has {} octets; at most {MAX_POLICY_SIZE} are read",
                body.len()
            ));
        }
        let text =
            std::str::from_utf8(body).map_err(|e| format!("the policy is not UTF-8 text: {e}"))?;
        if text.contains('\r') && !text.contains('\n') {
            return Err(
                "the policy's lines end in CR alone: RFC 8461 section 3.2 allows LF or CRLF".into(),
            );
        }
        let mut version = None;
        let mut mode = None;
        let mut max_age = None;
        let mut mx = Vec::new();
        let lines: Vec<&str> = text.split('\n').collect();
        for (n, raw) in lines.iter().enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() && n == lines.len() - 1 {
                break;
            }
            let line_no = n + 1;
            if line.contains('\r') {
                return Err(format!("line {line_no}: a CR inside the line"));
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(format!(
                    "line {line_no}: {line} is not \"key: value\"",
                    line = quoted(line)
                ));
            };
            let value = value
                .trim_start_matches([' ', '\t'])
                .trim_end_matches([' ', '\t']);
            match key {
                "version" => {
                    once(version.is_some(), key, line_no)?;
                    if value != "STSv1" {
                        return Err(format!(
                            "line {line_no}: version {value}, not STSv1",
                            value = quoted(value)
                        ));
                    }
                    version = Some(());
                }
                "mode" => {
                    once(mode.is_some(), key, line_no)?;
                    mode = Some(match value {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        other => {
                            return Err(format!(
                                "line {line_no}: mode {other}, not enforce, testing or none",
                                other = quoted(other)
                            ));
                        }
                    });
                }
                "max_age" => {
                    once(max_age.is_some(), key, line_no)?;
                    max_age =
                        Some(parse_max_age(value).map_err(|e| format!("line {line_no}: {e}"))?);
                }
                "mx" => {
                    check_pattern(value).map_err(|e| format!("line {line_no}: {e}"))?;
                    mx.push(normalize(value));
                }
                other => {
                    // Unknown keys are ignored (RFC 8461 section 3.2), but
                    // they must still look like keys.
                    if !valid_ext_name(other) {
                        return Err(format!(
                            "line {line_no}: {other} is not a valid key",
                            other = quoted(other)
                        ));
                    }
                }
            }
        }
        if version.is_none() {
            return Err("there is no \"version: STSv1\" line".into());
        }
        let mode = mode.ok_or("there is no mode line")?;
        let max_age = max_age.ok_or("there is no max_age line")?;
        if mx.is_empty() && mode != Mode::None {
            return Err(format!("mode {} needs at least one mx line", mode.as_str()));
        }
        Ok(Policy { mode, max_age, mx })
    }

    /// docs/rules/secure.md, Rule S10: does `host` match one of the `mx`
    /// patterns?
    pub fn matches(&self, host: &str) -> bool {
        self.mx.iter().any(|p| pattern_matches(p, host))
    }

    /// The policy as a file, for a fix to publish.
    pub fn to_text(&self) -> String {
        let mut out = format!("version: STSv1\r\nmode: {}\r\n", self.mode.as_str());
        for mx in &self.mx {
            out.push_str(&format!("mx: {mx}\r\n"));
        }
        out.push_str(&format!("max_age: {}\r\n", self.max_age));
        out
    }
}

/// A key other than `mx` may be given once.
fn once(seen: bool, key: &str, line_no: usize) -> Result<(), String> {
    if seen {
        Err(format!("line {line_no}: {key} is given twice"))
    } else {
        Ok(())
    }
}

/// `max_age`: `1*10DIGIT`, at most [`MAX_MAX_AGE`].
fn parse_max_age(value: &str) -> Result<u32, String> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "max_age {value} is not a number of seconds (0 to {MAX_MAX_AGE})",
            value = quoted(value)
        ));
    }
    match value.parse::<u64>() {
        Ok(n) if n <= u64::from(MAX_MAX_AGE) => Ok(n as u32),
        _ => Err(format!(
            "max_age {value} is more than {MAX_MAX_AGE} seconds (RFC 8461 section 3.2)"
        )),
    }
}

/// An `mx` value: `["*."] Domain`, the domain a host name of letters,
/// digits and hyphens (A-labels), at least two labels after a wildcard.
fn check_pattern(value: &str) -> Result<(), String> {
    let name = value.strip_suffix('.').unwrap_or(value);
    let (wild, rest) = match name.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, name),
    };
    let labels: Vec<&str> = rest.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if rest.is_empty() || rest.len() > 253 || !labels.iter().all(label_ok) {
        let hint = if rest.contains('*') {
            ": a wildcard is allowed only as the whole leftmost label (\"*.example.com\")"
        } else {
            ""
        };
        return Err(format!(
            "mx {value} is not a host name pattern{hint}",
            value = quoted(value)
        ));
    }
    if wild && labels.len() < 2 {
        return Err(format!(
            "mx {value} matches names under a top-level domain",
            value = quoted(value)
        ));
    }
    Ok(())
}

/// Lower case, no final dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// docs/rules/secure.md, Rule S10 (RFC 8461 section 4.1): an exact name, or
/// `*.` and a name, which stands for exactly one more leftmost label:
/// `*.example.com` matches `mx.example.com`, not `example.com`, not
/// `a.mx.example.com`. Case-insensitive, final dots ignored.
pub fn pattern_matches(pattern: &str, host: &str) -> bool {
    let pattern = normalize(pattern);
    let host = normalize(host);
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
        None => host == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.org\r\nmx: *.backup.example.org\r\nmax_age: 86400\r\n";

    #[test]
    fn parses_crlf_and_lf() {
        let p = Policy::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 86400);
        assert_eq!(p.mx, vec!["mx1.example.org", "*.backup.example.org"]);
        let lf = GOOD.replace("\r\n", "\n");
        assert_eq!(Policy::parse(lf.as_bytes()).unwrap(), p);
        // No final line end; unknown keys ignored; upper-case pattern.
        let p2 = Policy::parse(
            b"version: STSv1\nmode: testing\nfoo: bar\nmx: MX.Example.ORG.\nmax_age:0",
        )
        .unwrap();
        assert_eq!((p2.mode, p2.max_age), (Mode::Testing, 0));
        assert_eq!(p2.mx, vec!["mx.example.org"]);
        // mode none needs no mx.
        assert!(Policy::parse(b"version: STSv1\nmode: none\nmax_age: 60\n").is_ok());
        assert_eq!(Policy::parse(p.to_text().as_bytes()).unwrap(), p);
    }

    #[test]
    fn rule_s8_bad_policies_say_why() {
        for (body, why) in [
            (GOOD.replace("\r\n", "\r"), "CR alone"),
            (GOOD.replace("86400", "99999999999"), "not a number"),
            (GOOD.replace("86400", "31557601"), "more than"),
            (GOOD.replace("86400", "-1"), "not a number"),
            (GOOD.replace("86400", "NaN"), "not a number"),
            (
                GOOD.replace("mx1.example.org", "*.*.example"),
                "wildcard is allowed only",
            ),
            (
                GOOD.replace("mx1.example.org", "mx1.*.example"),
                "wildcard is allowed only",
            ),
            (GOOD.replace("mx1.example.org", "*.org"), "top-level"),
            (
                GOOD.replace("mx1.example.org", "192.0.2.1 x"),
                "not a host name",
            ),
            (format!("{GOOD}mode: testing\r\n"), "mode is given twice"),
            (format!("{GOOD}max_age: 5\r\n"), "max_age is given twice"),
            (GOOD.replace("STSv1", "STSv2"), "not STSv1"),
            (GOOD.replace("enforce", "Enforce"), "mode \"Enforce\""),
            (GOOD.replace("mode: enforce\r\n", ""), "no mode"),
            (GOOD.replace("max_age: 86400\r\n", ""), "no max_age"),
            (GOOD.replace("version: STSv1\r\n", ""), "no \"version"),
            (
                "version: STSv1\nmode: enforce\nmax_age: 5\n".into(),
                "needs at least one mx",
            ),
            (format!("{GOOD}garbage\r\n"), "not \"key: value\""),
            (format!("{GOOD}\r\n"), "not \"key: value\""),
            ("<html>hello</html>".into(), "not \"key: value\""),
        ] {
            let err = Policy::parse(body.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{body:?}: {err}");
        }
        let big = vec![b'a'; MAX_POLICY_SIZE + 1];
        assert!(Policy::parse(&big).unwrap_err().contains("octets"));
        assert!(Policy::parse(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn rule_s10_a_wildcard_is_one_label() {
        let m = pattern_matches;
        assert!(m("*.example.com", "mx.example.com"));
        assert!(m("*.example.com", "MX.Example.COM."));
        assert!(m("*.example.com.", "mx.example.com"));
        assert!(!m("*.example.com", "example.com"));
        assert!(!m("*.example.com", "a.mx.example.com"));
        assert!(!m("*.example.com", "mxexample.com"));
        assert!(!m("*.example.com", ".example.com"));
        assert!(m("mx.example.com", "mx.example.com."));
        assert!(!m("mx.example.com", "a.mx.example.com"));
        assert!(!m("example.com", "mx.example.com"));
    }
}

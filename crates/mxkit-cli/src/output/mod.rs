//! All rendering: text for people, JSON from the library's serde types.
//!
//! Text that DNS, a zone file or a remote server controls is escaped before it
//! reaches a terminal ([`sanitize`]), so a hostile name cannot move the cursor
//! or change colours.

pub mod check;
pub mod json;
pub mod scan;
pub mod smtp;
pub mod text;
pub mod trap;
pub mod wrap;

/// Escape control characters (C0, DEL, C1) and Unicode bidi overrides as
/// `\u{..}`, and backslashes that precede them stay as they are.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        if (c.is_control() && c != '\n') || bidi {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// What became of an exchanger whose name is no host name, in the words
/// every plan uses (`route`'s table, `probe` and `send`'s plan line), or
/// `None` for any other exchanger (docs/rules/route.md, Rule 11).
pub fn ignored_exchanger(state: mxkit::route::ExchangerState) -> Option<&'static str> {
    match state {
        mxkit::route::ExchangerState::InvalidName => Some("not a host name: ignored"),
        mxkit::route::ExchangerState::IpAddress => Some("an IP address, not a host name: ignored"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(sanitize("a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(sanitize("r\u{202e}l"), "r\\u{202e}l");
        assert_eq!(sanitize("plain.example"), "plain.example");
    }
}

//! Lines for a terminal of a given width: words are never broken, a word
//! longer than the width (a long DNS name, a URL) stays whole on a line of
//! its own, and continuation lines get a hanging indent.
//!
//! Words: runs of characters between spaces. Width: characters (`char`s),
//! which is what a terminal shows for the escaped, printable text the
//! renderers give it. No width means no wrapping: one line per item, as
//! scripts and `grep` want when standard output is not a terminal.

use std::io::IsTerminal;

/// The width assumed on a terminal whose size cannot be read.
pub const DEFAULT_WIDTH: usize = 80;

/// The width to wrap text at, or `None` for no wrapping: `flag` when given
/// (`--width N`; 0 turns wrapping off), else nothing when standard output
/// is not a terminal, else `COLUMNS` when it holds a positive number (as
/// `ls` and clap read it), else the terminal's own width, else 80.
pub fn width(flag: Option<usize>) -> Option<usize> {
    if let Some(n) = flag {
        return (n > 0).then_some(n);
    }
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    columns
        .or_else(|| terminal_size::terminal_size_of(&stdout).map(|(w, _)| usize::from(w.0)))
        .filter(|&w| w > 0)
        .or(Some(DEFAULT_WIDTH))
}

/// `text` as lines of at most `width` characters where words allow: the
/// first line starts with `first` (an indent, or a label such as
/// `"      fix: "`), the others with `indent` spaces. Runs of spaces between
/// words become one space on a wrapped line. Without a width, one line:
/// `first` and `text` as they are.
pub fn wrap(text: &str, width: Option<usize>, first: &str, indent: usize) -> Vec<String> {
    let Some(width) = width else {
        return vec![format!("{first}{text}")];
    };
    let pad = " ".repeat(indent);
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut len = line.chars().count();
    // Whether `line` holds a word yet (a prefix alone is not one).
    let mut has_word = false;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let n = word.chars().count();
        if has_word && len + 1 + n > width {
            lines.push(std::mem::replace(&mut line, pad.clone()));
            len = indent;
            has_word = false;
        }
        if has_word {
            line.push(' ');
            len += 1;
        }
        line.push_str(word);
        len += n;
        has_word = true;
    }
    lines.push(line.trim_end().to_string());
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn no_width_is_one_line_as_given() {
        assert_eq!(
            wrap("a  b c", None, "  x: ", 6),
            vec!["  x: a  b c".to_string()]
        );
    }

    #[test]
    fn wraps_at_spaces_with_a_hanging_indent() {
        let text = "one two three four five six seven eight nine ten";
        let lines = wrap(text, Some(20), "  ", 4);
        assert_eq!(
            lines,
            vec![
                "  one two three four",
                "    five six seven",
                "    eight nine ten"
            ]
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 20));
        // Every word is kept, in order.
        let words: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
        assert_eq!(words.join(" "), text);
    }

    #[test]
    fn a_line_of_exactly_the_width_stays_whole() {
        // "  aaaa bbbb" is 11 characters.
        assert_eq!(wrap("aaaa bbbb", Some(11), "  ", 4), vec!["  aaaa bbbb"]);
        assert_eq!(
            wrap("aaaa bbbb", Some(10), "  ", 4),
            vec!["  aaaa", "    bbbb"]
        );
    }

    #[test]
    fn a_word_longer_than_the_width_stays_whole_on_its_own_line() {
        let long = "backup.mail.example.com.example.com.";
        let lines = wrap(&format!("see {long} now"), Some(20), "  fix: ", 6);
        assert_eq!(
            lines,
            vec!["  fix: see", &format!("      {long}"), "      now"]
        );
        // Right after the prefix, it is not moved to a line of its own.
        assert_eq!(
            wrap(long, Some(10), "  fix: ", 6),
            vec![format!("  fix: {long}")]
        );
    }

    #[test]
    fn width_is_counted_in_characters_not_bytes() {
        // Each "é" is two bytes, one character.
        assert_eq!(wrap("éé éé", Some(5), "", 0), vec!["éé éé"]);
        assert_eq!(wrap("éé éé", Some(4), "", 0), vec!["éé", "éé"]);
    }

    #[test]
    fn odd_input_never_panics() {
        assert_eq!(wrap("", Some(10), "  a: ", 4), vec!["  a:"]);
        assert_eq!(wrap("   ", Some(1), "", 0), vec![""]);
        assert_eq!(wrap("a b", Some(1), "", 8), vec!["a", "        b"]);
        assert_eq!(wrap("a b", Some(0), "", 0), vec!["a", "b"]);
    }
}

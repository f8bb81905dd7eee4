//! The lexer: zone text split into entries (one record or directive with
//! its parenthesised lines), each token with the line where it starts.

use super::load::Limits;

#[derive(Clone, Debug)]
pub(super) struct Token {
    /// The text as written, escapes kept, without the quotes of a quoted string.
    pub(super) text: Vec<u8>,
    pub(super) quoted: bool,
    pub(super) line: u32,
}

impl Token {
    pub(super) fn is(&self, bare: &str) -> bool {
        !self.quoted && self.text == bare.as_bytes()
    }

    pub(super) fn shown(&self) -> String {
        shown(&self.text)
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.text).ok()
    }
}

/// A token for messages: quoted, control characters escaped, cut if long.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(80).collect();
    if out.len() < text.len() {
        out.push_str("...");
    }
    format!("\"{}\"", out.escape_debug())
}

pub(super) struct Entry {
    pub(super) line: u32,
    /// The entry starts with a blank: the owner is the previous one.
    pub(super) blank_owner: bool,
    pub(super) tokens: Vec<Token>,
}

/// Bytes read from a zone file at a time.
const CHUNK: usize = 64 << 10;

/// What stopped the lexer: where (the line) and why.
pub(super) struct LexError {
    pub(super) line: u32,
    pub(super) message: String,
}

impl LexError {
    fn at(line: u32, message: impl Into<String>) -> Self {
        LexError {
            line,
            message: message.into(),
        }
    }
}

/// Splits a zone file into entries, reading it as a stream: it holds a
/// window of the file (at most twice [`Limits::entry`] and a chunk), never
/// the whole file. Every byte read is taken from the zone's byte budget (the
/// file and its `$INCLUDE`s together, [`Limits::bytes`]).
pub(super) struct Lexer<R> {
    reader: R,
    /// [`Limits::entry`].
    max_entry: usize,
    /// The message for [`Limits::bytes`].
    too_many_bytes: String,
    /// `buf[pos..]` is read but not yet lexed.
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    line: u32,
}

impl<R: std::io::Read> Lexer<R> {
    pub(super) fn new(reader: R, limits: &Limits) -> Self {
        Lexer {
            reader,
            max_entry: limits.entry,
            too_many_bytes: limits.too_many_bytes(),
            buf: Vec::new(),
            pos: 0,
            eof: false,
            line: 1,
        }
    }

    /// Make sure the window holds the next [`Limits::entry`] bytes and one
    /// more, or the rest of the file: an entry that runs to the window's end
    /// before the file's is over the limit.
    fn fill(&mut self, budget: &mut u64) -> Result<(), LexError> {
        if self.eof || self.buf.len() - self.pos > self.max_entry {
            return Ok(());
        }
        self.buf.drain(..self.pos);
        self.pos = 0;
        while !self.eof && self.buf.len() < 2 * self.max_entry {
            let old = self.buf.len();
            // Small entry limits read in small pieces (the window's refills
            // are exercised by tests and fuzzing with small limits).
            self.buf.resize(old + CHUNK.min(self.max_entry + 1), 0);
            let n = loop {
                match self.reader.read(&mut self.buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.buf.truncate(old);
                        return Err(LexError::at(self.line, format!("cannot read: {e}")));
                    }
                }
            };
            self.buf.truncate(old + n);
            if n == 0 {
                self.eof = true;
            } else if n as u64 > *budget {
                return Err(LexError::at(
                    self.line,
                    format!("the zone {}", self.too_many_bytes),
                ));
            } else {
                *budget -= n as u64;
            }
        }
        Ok(())
    }

    /// The byte at the read position, if the window has it.
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// The entry that started on line `line` is longer than the limit (or
    /// the window ended before the file, which means the same).
    fn too_long(&self, line: u32, open: Option<u32>) -> LexError {
        let hint = match open {
            Some(paren) => format!(" (the '(' of line {paren} is never closed?)"),
            None => String::new(),
        };
        LexError::at(
            line,
            format!(
                "this entry exceeds the limit of {} bytes for one record or directive with \
                 its parenthesised lines and comments{hint}",
                self.max_entry
            ),
        )
    }

    /// The next entry with at least one token, or `None` at the end.
    pub(super) fn next_entry(&mut self, budget: &mut u64) -> Result<Option<Entry>, LexError> {
        loop {
            self.fill(budget)?;
            if self.pos >= self.buf.len() {
                return Ok(None);
            }
            let start = self.pos;
            let start_line = self.line;
            let blank_owner = matches!(self.buf[self.pos], b' ' | b'\t');
            let mut tokens = Vec::new();
            let mut open: Option<u32> = None;
            while let Some(c) = self.peek() {
                match c {
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        if open.is_none() {
                            break;
                        }
                    }
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b';' => {
                        while self.peek().is_some_and(|c| c != b'\n') {
                            self.pos += 1;
                        }
                    }
                    b'(' => {
                        if let Some(first) = open {
                            return Err(LexError::at(
                                self.line,
                                format!("nested '(' (one is already open since line {first})"),
                            ));
                        }
                        open = Some(self.line);
                        self.pos += 1;
                    }
                    b')' => {
                        if open.is_none() {
                            return Err(LexError::at(self.line, "')' without a matching '('"));
                        }
                        open = None;
                        self.pos += 1;
                    }
                    b'"' => tokens.push(self.quoted(start_line, start)?),
                    _ => tokens.push(self.bare()),
                }
            }
            let line = tokens.first().map_or(start_line, |t: &Token| t.line);
            if self.pos - start > self.max_entry || (self.pos >= self.buf.len() && !self.eof) {
                return Err(self.too_long(line, open));
            }
            if let Some(line) = open {
                return Err(LexError::at(line, "'(' is never closed"));
            }
            if !tokens.is_empty() {
                return Ok(Some(Entry {
                    line,
                    blank_owner,
                    tokens,
                }));
            }
        }
    }

    fn bare(&mut self) -> Token {
        let line = self.line;
        let mut text = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                b'\\' => {
                    text.push(c);
                    self.pos += 1;
                    if let Some(next) = self.peek() {
                        if next == b'\n' {
                            self.line += 1;
                        }
                        text.push(next);
                        self.pos += 1;
                    }
                }
                _ => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        Token {
            text,
            quoted: false,
            line,
        }
    }

    /// A quoted string, in the entry that starts on `entry_line` at `start`.
    fn quoted(&mut self, entry_line: u32, start: usize) -> Result<Token, LexError> {
        let line = self.line;
        self.pos += 1;
        let mut text = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                if !self.eof || self.pos - start > self.max_entry {
                    return Err(self.too_long(entry_line, None));
                }
                return Err(LexError::at(line, "quoted string is never closed"));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    text.push(c);
                    if let Some(next) = self.peek() {
                        if next == b'\n' {
                            self.line += 1;
                        }
                        text.push(next);
                        self.pos += 1;
                    }
                }
                b'\n' => {
                    self.line += 1;
                    text.push(c);
                }
                _ => text.push(c),
            }
        }
        Ok(Token {
            text,
            quoted: true,
            line,
        })
    }
}

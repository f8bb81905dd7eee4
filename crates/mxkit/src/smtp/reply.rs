//! Reading replies: bounded line framing here, parsing by smtp-proto.
//!
//! RFC 5321 section 4.2: a reply is one or more lines `NNN-text` ending with
//! a line `NNN text` (or `NNN`). Section 4.5.3.1.5 limits a reply line to 512
//! octets; real servers exceed that (long banners, AUTH lists), so a line may
//! have up to [`MAX_REPLY_LINE`] octets, which is also smtp-proto's own
//! bound. Anything longer, more than [`MAX_REPLY_LINES`] lines or more than
//! [`MAX_REPLY_BYTES`] in one reply is a protocol error: memory stays bounded
//! whatever the server sends.
//!
//! Each line is parsed on its own by smtp-proto's `ResponseReceiver` (code,
//! enhanced status code, text), so that the total of a reply is bounded by
//! our limit and not by the receiver's 4 KiB buffer.

use smtp_proto::response::parser::ResponseReceiver;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{ProtocolError, Reply};

/// Longest reply line accepted, in octets without CRLF.
pub const MAX_REPLY_LINE: usize = 4096;
/// Most lines in one reply.
pub const MAX_REPLY_LINES: usize = 100;
/// Most octets in one reply.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// How reading a line failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// End of stream. `partial`: bytes of an unfinished line had arrived.
    Eof {
        partial: bool,
    },
    Io(std::io::Error),
    /// A line longer than [`MAX_REPLY_LINE`].
    TooLong,
}

/// Unconsumed input from the server.
#[derive(Default)]
pub(crate) struct LineBuffer {
    buf: Vec<u8>,
}

impl LineBuffer {
    /// Octets received but not consumed yet.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next line without its line ending (CRLF, or a bare LF).
    pub(crate) async fn read_line<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut R,
    ) -> Result<Vec<u8>, ReadError> {
        let mut chunk = [0u8; 4096];
        let mut searched = 0;
        loop {
            if let Some(pos) = self.buf[searched..].iter().position(|&b| b == b'\n') {
                let end = searched + pos;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > MAX_REPLY_LINE {
                    return Err(ReadError::TooLong);
                }
                return Ok(line);
            }
            searched = self.buf.len();
            // +1 for the CR before the LF that has not come yet.
            if self.buf.len() > MAX_REPLY_LINE + 1 {
                return Err(ReadError::TooLong);
            }
            let n = io.read(&mut chunk).await.map_err(ReadError::Io)?;
            if n == 0 {
                return Err(ReadError::Eof {
                    partial: !self.buf.is_empty(),
                });
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Collects the lines of one reply.
#[derive(Default)]
pub(crate) struct Assembler {
    code: u16,
    enhanced: Option<String>,
    lines: Vec<String>,
    raw: Vec<u8>,
}

/// A complete reply and its raw lines (CRLF-terminated) for `EhloResponse`.
pub(crate) struct Complete {
    pub(crate) reply: Reply,
    pub(crate) raw: Vec<u8>,
}

impl Assembler {
    /// Any line of this reply has been taken.
    pub(crate) fn started(&self) -> bool {
        !self.raw.is_empty()
    }

    /// Take one line (without line ending). `Ok(Some)` when it was the last.
    pub(crate) fn push(&mut self, line: &[u8]) -> Result<Option<Complete>, ProtocolError> {
        if self.lines.len() >= MAX_REPLY_LINES {
            return Err(ProtocolError::TooManyLines);
        }
        if self.raw.len() + line.len() + 2 > MAX_REPLY_BYTES {
            return Err(ProtocolError::TooLong);
        }
        // Framing only: three digits, then ' ', '-' or the end of the line.
        let code_ok = line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit);
        let last = match line.get(3) {
            _ if !code_ok => return Err(ProtocolError::NotAReplyLine(lossy(line))),
            None | Some(b' ') => true,
            Some(b'-') => false,
            Some(_) => return Err(ProtocolError::NoSeparator(lossy(line))),
        };
        // smtp-proto parses the line as a one-line reply.
        let mut single = Vec::with_capacity(line.len() + 2);
        single.extend_from_slice(&line[..3]);
        if line.len() > 4 {
            single.push(b' ');
            single.extend_from_slice(&line[4..]);
        }
        single.extend_from_slice(b"\r\n");
        let mut receiver = ResponseReceiver::default();
        let parsed = receiver
            .parse(&mut single.iter())
            .map_err(|e| ProtocolError::BadLine {
                line: lossy(line),
                reason: e.to_string(),
            })?;
        if !(100..600).contains(&parsed.code) {
            return Err(ProtocolError::CodeOutOfRange(parsed.code));
        }
        let mut text = parsed.message.trim_end().to_string();
        let esc = parsed.esc;
        let class = parsed.code / 100;
        let enhanced = if esc == [0, 0, 0] {
            None
        } else if u16::from(esc[0]) == class && matches!(esc[0], 2 | 4 | 5) {
            Some(format!("{}.{}.{}", esc[0], esc[1], esc[2]))
        } else {
            // Not a status code for this reply (RFC 3463 section 2): keep it as text.
            text = format!("{}.{}.{} {text}", esc[0], esc[1], esc[2])
                .trim_end()
                .to_string();
            None
        };
        if self.lines.is_empty() {
            self.code = parsed.code;
            self.enhanced = enhanced;
        }
        self.lines.push(text);
        self.raw.extend_from_slice(line);
        self.raw.extend_from_slice(b"\r\n");
        if !last {
            return Ok(None);
        }
        let done = std::mem::take(self);
        Ok(Some(Complete {
            reply: Reply {
                code: done.code,
                enhanced: done.enhanced,
                lines: done.lines,
            },
            raw: done.raw,
        }))
    }
}

/// Bytes as text for the transcript and messages (invalid UTF-8 replaced).
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reply, or why not; `None`: it ended early or was not complete.
    fn parse(lines: &[&str]) -> Result<Reply, Option<ProtocolError>> {
        let mut a = Assembler::default();
        for (i, l) in lines.iter().enumerate() {
            match a.push(l.as_bytes())? {
                Some(c) if i == lines.len() - 1 => return Ok(c.reply),
                Some(_) => return Err(None),
                None => {}
            }
        }
        Err(None)
    }

    #[test]
    fn single_line_with_enhanced_code() {
        let r = parse(&["250 2.0.0 Ok: queued as 4ABC123"]).unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(r.enhanced.as_deref(), Some("2.0.0"));
        assert_eq!(r.lines, vec!["Ok: queued as 4ABC123"]);
    }

    #[test]
    fn multi_line() {
        let r = parse(&["250-mx1.example.test", "250-PIPELINING", "250 STARTTLS"]).unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(r.enhanced, None);
        assert_eq!(r.lines, vec!["mx1.example.test", "PIPELINING", "STARTTLS"]);
    }

    #[test]
    fn bare_code_and_ip_banner() {
        let r = parse(&["220"]).unwrap();
        assert_eq!((r.code, r.lines.clone()), (220, vec![String::new()]));
        let r = parse(&["220 127.0.0.1 ESMTP"]).unwrap();
        assert_eq!(r.enhanced, None);
        assert_eq!(r.lines, vec!["127.0.0.1 ESMTP"]);
        let r = parse(&["421 4.3.2 Try again later"]).unwrap();
        assert_eq!(r.enhanced.as_deref(), Some("4.3.2"));
        let r = parse(&["250 5.0.0 odd"]).unwrap();
        assert_eq!(r.enhanced, None);
        assert_eq!(r.lines, vec!["5.0.0 odd"]);
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse(&["HTTP/1.1 400 Bad Request"]).is_err());
        assert!(parse(&["25"]).is_err());
        assert!(parse(&["250x"]).is_err());
        assert!(parse(&["999 nope"]).is_err());
    }

    #[test]
    fn too_many_lines() {
        let mut a = Assembler::default();
        let mut result = Ok(None);
        for _ in 0..=MAX_REPLY_LINES {
            result = a.push(b"250-x");
            if result.is_err() {
                break;
            }
        }
        assert!(result.is_err());
    }
}

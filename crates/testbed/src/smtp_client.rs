//! A tiny blocking SMTP client on std sockets, for checking the test bed's
//! servers (greetings, EHLO keywords, one message in plain text). It is not
//! the client under test: no TLS, no pipelining, no dot-stuffing subtleties
//! beyond doubling a leading dot.

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long each step (connect, one reply) may take unless told otherwise.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// One SMTP reply: its code and the text of each line (without the code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code, such as 220 or 421.
    pub code: u16,
    /// The text after `NNN-` / `NNN ` on each line.
    pub lines: Vec<String>,
}

impl Reply {
    /// 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// All lines joined by newlines.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i + 1 == self.lines.len() { ' ' } else { '-' };
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}{sep}{line}", self.code)?;
        }
        Ok(())
    }
}

/// An open SMTP connection.
pub struct SmtpClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl SmtpClient {
    /// Connect (within `timeout`); every later read and write also gets
    /// `timeout`. Reads nothing: call [`SmtpClient::read_reply`] for the
    /// greeting.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<SmtpClient> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let writer = stream.try_clone()?;
        Ok(SmtpClient {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Read one (possibly multi-line) reply. A connection closed before a
    /// full reply is `UnexpectedEof`.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed (reply so far: {lines:?})"),
                ));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let bad = || {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not an SMTP reply line: {line:?}"),
                )
            };
            if line.len() < 3 || !line.is_char_boundary(3) {
                return Err(bad());
            }
            let code: u16 = line[..3].parse().map_err(|_| bad())?;
            let sep = line.as_bytes().get(3).copied();
            lines.push(line.get(4..).unwrap_or("").to_string());
            match sep {
                Some(b'-') => continue,
                None | Some(b' ') => return Ok(Reply { code, lines }),
                Some(_) => return Err(bad()),
            }
        }
    }

    /// Send one command line (CRLF added) and read the reply.
    pub fn command(&mut self, line: &str) -> io::Result<Reply> {
        self.writer.write_all(format!("{line}\r\n").as_bytes())?;
        self.writer.flush()?;
        self.read_reply()
    }

    /// The underlying stream (for socket options or a raw write).
    pub fn stream(&self) -> &TcpStream {
        &self.writer
    }

    /// After the greeting and EHLO: one mail transaction (MAIL, one RCPT per
    /// recipient, DATA, the message, "."). Stops at the first negative
    /// reply and returns it; otherwise returns the reply to ".".
    pub fn transaction(&mut self, from: &str, to: &[&str], message: &str) -> io::Result<Reply> {
        let r = self.command(&format!("MAIL FROM:<{from}>"))?;
        if !r.is_positive() {
            return Ok(r);
        }
        for rcpt in to {
            let r = self.command(&format!("RCPT TO:<{rcpt}>"))?;
            if !r.is_positive() {
                return Ok(r);
            }
        }
        let r = self.command("DATA")?;
        if r.code != 354 {
            return Ok(r);
        }
        let mut data = String::new();
        for line in message.lines() {
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
            data.push_str("\r\n");
        }
        data.push_str(".\r\n");
        self.writer.write_all(data.as_bytes())?;
        self.writer.flush()?;
        self.read_reply()
    }
}

/// Connect to `addr` and read the greeting (or the error: refused, timeout,
/// closed without a reply).
pub fn greeting(addr: SocketAddr, timeout: Duration) -> io::Result<Reply> {
    SmtpClient::connect(addr, timeout)?.read_reply()
}

/// Connect, read the greeting and send `EHLO helo`; returns both replies
/// (the EHLO reply is `None` when the greeting was not 220). Sends QUIT.
pub fn ehlo(addr: SocketAddr, helo: &str) -> io::Result<(Reply, Option<Reply>)> {
    let mut c = SmtpClient::connect(addr, STEP_TIMEOUT)?;
    let greeting = c.read_reply()?;
    if greeting.code != 220 {
        return Ok((greeting, None));
    }
    let ehlo = c.command(&format!("EHLO {helo}"))?;
    let _ = c.command("QUIT");
    Ok((greeting, Some(ehlo)))
}

/// A whole plain-text session: greeting, EHLO, one transaction, QUIT.
/// Returns the last reply that decided the outcome (the reply to "." when
/// everything was accepted, else the first negative reply).
pub fn send_message(addr: SocketAddr, from: &str, to: &[&str], message: &str) -> io::Result<Reply> {
    let mut c = SmtpClient::connect(addr, STEP_TIMEOUT)?;
    let greeting = c.read_reply()?;
    if greeting.code != 220 {
        return Ok(greeting);
    }
    let r = c.command("EHLO client.example.test")?;
    if r.code != 250 {
        return Ok(r);
    }
    let r = c.transaction(from, to, message)?;
    let _ = c.command("QUIT");
    Ok(r)
}

//! The errors of the SMTP client, worded here: why a stage failed
//! ([`SmtpError`]), what was wrong with what a server sent
//! ([`ProtocolError`]), why a message cannot be sent ([`MessageError`]), and
//! a stage name `--stop-after` does not know ([`ParseStageError`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::message::MAX_LINE;
use super::reply::{MAX_REPLY_BYTES, MAX_REPLY_LINE, MAX_REPLY_LINES};
use super::{Reply, Stage};

/// Why a stage failed. Every variant knows its [`Stage`] and whether a retry
/// (later or elsewhere) could help ([`SmtpError::is_soft`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpError {
    /// An address that cannot be sent verbatim (hard, nothing was sent).
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress {
        /// Mail or Rcpt.
        stage: Stage,
        /// The address as given.
        address: String,
        /// Why.
        reason: String,
    },
    /// The EHLO name is empty or contains spaces or control characters (hard).
    #[error("invalid EHLO name {0:?}")]
    InvalidHelo(String),
    /// A probe that stops after RCPT, or a delivery, without recipients (hard).
    #[error("no recipient given")]
    NoRecipients,
    /// A probe cannot stop after this stage (it never sends DATA) (hard).
    #[error("a probe cannot stop after {0}")]
    BadStopStage(Stage),
    /// TCP connect failed (soft).
    #[error("connect to {target} failed: {source}")]
    Connect {
        /// The address dialled.
        target: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The address may not be dialled ([`crate::targets::Targets`]): nothing
    /// was sent (soft: the walk moves on).
    #[error("not connecting to {target}: {reason}")]
    TargetRefused {
        /// The address that would have been dialled.
        target: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A stage or the overall deadline ran out (soft).
    #[error("{}", timeout_text(*stage, *after, *overall))]
    Timeout {
        /// Where.
        stage: Stage,
        /// The limit that ran out.
        after: Duration,
        /// The overall deadline, not the stage timeout.
        overall: bool,
    },
    /// The server closed the connection (soft).
    #[error("connection closed by the server{}", if *mid_reply { " in the middle of a reply" } else { "" })]
    Closed {
        /// Where.
        stage: Stage,
        /// Part of a reply had arrived.
        mid_reply: bool,
    },
    /// Reading or writing failed (soft).
    #[error("I/O error: {source}")]
    Io {
        /// Where.
        stage: Stage,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The server sent something that is not an SMTP reply, or too much (soft).
    #[error("protocol error: {detail}")]
    Protocol {
        /// Where.
        stage: Stage,
        /// What.
        #[source]
        detail: ProtocolError,
    },
    /// A negative or unexpected reply (soft for 4xx, hard for 5xx).
    #[error("{reply}")]
    Rejected {
        /// Where.
        stage: Stage,
        /// The reply.
        reply: Reply,
    },
    /// STARTTLS required but not offered (soft).
    #[error("STARTTLS is required but the server does not offer it")]
    StarttlsNotOffered,
    /// The TLS handshake failed or the certificate was refused (soft).
    #[error("TLS handshake failed: {detail}")]
    Tls {
        /// What.
        detail: String,
    },
    /// The CA file could not be used (hard: a local problem).
    #[error("cannot use CA file {path}: {detail}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The message exceeds the server's SIZE (RFC 1870; hard, 5.3.4).
    #[error("message of {size} octets exceeds the server's fixed size limit of {limit}")]
    MessageTooBig {
        /// The message size.
        size: usize,
        /// The server's SIZE.
        limit: usize,
    },
    /// An address needs SMTPUTF8 (RFC 6531) and the server does not offer it (hard, 5.6.7).
    #[error("an address is not ASCII and the server does not offer SMTPUTF8")]
    Utf8NotOffered,
}

fn timeout_text(stage: Stage, after: Duration, overall: bool) -> String {
    let secs = after.as_secs_f64();
    if overall {
        format!("overall deadline of {secs}s reached during {stage}")
    } else {
        format!("timed out after {secs}s at {stage}")
    }
}

impl SmtpError {
    /// The stage the failure belongs to.
    pub fn stage(&self) -> Stage {
        match self {
            SmtpError::InvalidAddress { stage, .. }
            | SmtpError::Timeout { stage, .. }
            | SmtpError::Closed { stage, .. }
            | SmtpError::Io { stage, .. }
            | SmtpError::Protocol { stage, .. }
            | SmtpError::Rejected { stage, .. } => *stage,
            SmtpError::InvalidHelo(_) => Stage::Ehlo,
            SmtpError::NoRecipients => Stage::Rcpt,
            SmtpError::BadStopStage(s) => *s,
            SmtpError::Connect { .. } | SmtpError::TargetRefused { .. } => Stage::Connect,
            SmtpError::StarttlsNotOffered | SmtpError::Tls { .. } | SmtpError::CaFile { .. } => {
                Stage::Starttls
            }
            SmtpError::MessageTooBig { .. } | SmtpError::Utf8NotOffered => Stage::Mail,
        }
    }

    /// A retry (later, or at the next address) could help.
    pub fn is_soft(&self) -> bool {
        match self {
            SmtpError::Connect { .. }
            | SmtpError::TargetRefused { .. }
            | SmtpError::Timeout { .. }
            | SmtpError::Closed { .. }
            | SmtpError::Io { .. }
            | SmtpError::Protocol { .. }
            | SmtpError::StarttlsNotOffered
            | SmtpError::Tls { .. } => true,
            SmtpError::Rejected { reply, .. } => !reply.is_permanent(),
            SmtpError::InvalidAddress { .. }
            | SmtpError::InvalidHelo(_)
            | SmtpError::NoRecipients
            | SmtpError::BadStopStage(_)
            | SmtpError::CaFile { .. }
            | SmtpError::MessageTooBig { .. }
            | SmtpError::Utf8NotOffered => false,
        }
    }

    /// The reply, for [`SmtpError::Rejected`].
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            SmtpError::Rejected { reply, .. } => Some(reply),
            _ => None,
        }
    }
}

/// What was wrong with what a server sent: not an SMTP reply, or too much
/// of one (RFC 5321 section 4.2; the limits keep memory bounded whatever the
/// server sends). Every variant is soft.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reply line longer than [`MAX_REPLY_LINE`] octets.
    #[error("reply line longer than {MAX_REPLY_LINE} octets")]
    LineTooLong,
    /// A reply of more than [`MAX_REPLY_LINES`] lines.
    #[error("reply has more than {MAX_REPLY_LINES} lines")]
    TooManyLines,
    /// A reply of more than [`MAX_REPLY_BYTES`] octets.
    #[error("reply is longer than {MAX_REPLY_BYTES} octets")]
    TooLong,
    /// A line that does not start with a three-digit code.
    #[error("not an SMTP reply line: {0:?}")]
    NotAReplyLine(String),
    /// A code followed by something other than a space or a hyphen.
    #[error("no space or hyphen after the reply code: {0:?}")]
    NoSeparator(String),
    /// A line smtp-proto could not parse.
    #[error("bad reply line {line:?}: {reason}")]
    BadLine {
        /// The line (invalid UTF-8 replaced).
        line: String,
        /// What smtp-proto said.
        reason: String,
    },
    /// A code outside 100-599.
    #[error("reply code {0} out of range")]
    CodeOutOfRange(u16),
    /// Octets after the 220 to STARTTLS, before the handshake: a reply
    /// injected into the plaintext part (CVE-2011-0411 seen from the
    /// client side).
    #[error(
        "{0} octets arrived after the 220 to STARTTLS, before the TLS handshake (reply injection)"
    )]
    InjectedBeforeTls(usize),
}

/// Why a message cannot be sent. Every variant is hard (the message itself
/// is wrong) and belongs to [`Stage::Data`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// A NUL octet (RFC 5322 section 2.1; RFC 5321 section 4.1.4 forbids it in DATA).
    #[error("NUL octet at offset {offset}")]
    Nul {
        /// Where.
        offset: usize,
    },
    /// A line longer than 998 octets (RFC 5322 section 2.1.1).
    #[error("line {line} is {len} octets long (at most {MAX_LINE})")]
    LineTooLong {
        /// 1-based line number after normalisation.
        line: usize,
        /// Its length without CRLF.
        len: usize,
    },
    /// A header value given to `prepare` contains CR, LF or NUL (header
    /// injection; NUL is not allowed in a message, RFC 5322 section 2.2).
    #[error("{field} contains a line break or a NUL byte")]
    HeaderInjection {
        /// Which field.
        field: &'static str,
    },
    /// No `From:` header and no sender to make one from (null sender).
    #[error("the message has no From: header and the sender is empty")]
    NoFrom,
}

impl MessageError {
    /// Always [`Stage::Data`].
    pub fn stage(&self) -> Stage {
        Stage::Data
    }
    /// Always false: the message must be fixed.
    pub fn is_soft(&self) -> bool {
        false
    }
}

/// `--stop-after` names a stage a probe can stop after.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown stage {0:?}: expected connect, greeting, ehlo, starttls, mail or rcpt")]
pub struct ParseStageError(pub String);

//! Judging a reply: accepted only for its question (RFC 5452 section 9.1),
//! never when truncated (RFC 1123 section 6.1.3.2), then classified by its
//! rcode into a [`Response`]; [`ReplyError`] says why a datagram is not used.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{MessageType, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};

use super::super::decode::{self, DecodeError, Reply};
use super::super::{Response, Status, TempError, same_name};

/// Most answer records kept from one reply; the rest are dropped (with a
/// warning) so that a hostile or broken server cannot make us hold a huge set.
pub const MAX_ANSWERS: usize = 1000;

/// Why the engine does not use a datagram as the reply to its question.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// Not a DNS reply that can be read.
    #[error("undecodable: {0}")]
    Undecodable(DecodeError),
    /// The QR bit is clear: a query, not a response (RFC 1035 section 4.1.1).
    #[error("not a response (QR bit clear)")]
    NotAResponse,
    /// One question, but not the one asked (RFC 5452 section 9.1).
    #[error("wrong question ({} {} {})", .0.name, .0.query_class, .0.query_type)]
    WrongQuestion(Box<Query>),
    /// Not exactly one question: how many there are.
    #[error("wrong question ({0} questions)")]
    Questions(u16),
    /// The TC bit is set: never used, the same server is asked again over
    /// TCP (RFC 1123 section 6.1.3.2).
    #[error("truncated (TC bit): not used, asked again over TCP")]
    Truncated,
}

/// Accept a decoded reply for the question (`name` absolute, `rtype`, IN),
/// or say why not (RFC 5452 section 9.1). The ID and the source address were
/// checked before.
pub(super) fn accept(msg: Reply, name: &Name, rtype: RecordType) -> Result<Reply, ReplyError> {
    let msg = accept_asked(msg)?;
    match &msg.question {
        // Name equality is case-insensitive (RFC 4343).
        Some(q)
            if q.query_type == rtype
                && q.query_class == DNSClass::IN
                && same_name(&q.name, name) => {}
        Some(q) => return Err(ReplyError::WrongQuestion(Box::new(q.clone()))),
        None => return Err(ReplyError::Questions(msg.questions)),
    }
    Ok(msg)
}

/// [`accept`] for a reply whose question was found to be the one asked,
/// octet for octet (`decode::read_asked`): only the QR bit is left to check.
pub(super) fn accept_asked(msg: Reply) -> Result<Reply, ReplyError> {
    if msg.metadata.message_type != MessageType::Response {
        return Err(ReplyError::NotAResponse);
    }
    Ok(msg)
}

/// What a server's reply means for the question.
pub(super) enum Verdict {
    /// NOERROR or NXDOMAIN: the answer.
    Final(Response),
    /// An error rcode: ask the next server; this is returned if none does better.
    Failed(Response),
}

/// Run one received datagram through the engine's reply handling, for the
/// question `name` (made absolute, as the engine does) / `rtype` / IN sent to
/// `server`: decode it, accept it (QR bit, the one question repeated, RFC 5452
/// section 9.1), refuse a truncated one, classify its rcode. For fuzzing and
/// tests; the engine itself calls the same private steps.
///
/// The query ID and the source address are not checked: the engine matches
/// them before it decodes anything, so a caller holding one datagram has
/// nothing to match them against.
///
/// `Ok` is the [`Response`] the engine would build from the datagram: NOERROR
/// and NXDOMAIN are final answers; any other rcode gives a
/// [`Status::Temporary`] response, which the engine keeps only if no other
/// server does better. `Err` is why the engine would not use the datagram:
/// undecodable, not a response, the wrong question, or truncated (TC bit: the
/// engine never uses it and asks the same server again over TCP, RFC 1123
/// section 6.1.3.2).
pub fn read_reply(
    packet: &[u8],
    name: &Name,
    rtype: RecordType,
    server: SocketAddr,
) -> Result<Response, ReplyError> {
    let mut name = name.clone();
    name.set_fqdn(true);
    let msg = decode::read(packet)
        .map_err(ReplyError::Undecodable)
        .and_then(|msg| accept(msg, &name, rtype))?;
    if msg.metadata.truncation {
        return Err(ReplyError::Truncated);
    }
    match verdict(msg, server.to_string().into()) {
        Verdict::Final(resp) | Verdict::Failed(resp) => Ok(resp),
    }
}

/// The engine's reply walker read a datagram otherwise than hickory-proto
/// ([`check_reply_walker`]).
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalkerDisagrees {
    /// Both read it, into different replies (each shown as debug text).
    #[error("the walker read {walker}, hickory {hickory}")]
    Differs {
        /// What the walker read.
        walker: String,
        /// What hickory-proto read.
        hickory: String,
    },
    /// The walker read what hickory-proto rejects.
    #[error("the walker read what hickory rejects: {0}")]
    HickoryRejects(DecodeError),
}

/// Check the engine's reply walker against hickory-proto on one datagram:
/// `Err` when the walker reads it and hickory rejects it or reads something
/// else. For the `reply` fuzz target (and tests); see `dns::decode`.
#[doc(hidden)]
pub fn check_reply_walker(packet: &[u8]) -> Result<(), WalkerDisagrees> {
    let Some(walked) = decode::walk(packet) else {
        return Ok(());
    };
    let differs = |walked: &Reply, reference: &Reply| WalkerDisagrees::Differs {
        walker: format!("{walked:?}"),
        hickory: format!("{reference:?}"),
    };
    let reference = match decode::by_hickory(packet) {
        Ok(reference) if reference == walked => reference,
        Ok(reference) => return Err(differs(&walked, &reference)),
        Err(why) => return Err(WalkerDisagrees::HickoryRejects(why)),
    };
    // The engine's way for a reply to its own query: the question taken
    // from the query when the reply repeats it octet for octet.
    if let Some(q) = &reference.question {
        let sent = decode::query_for(q);
        match decode::read_asked(packet, &sent, &q.name, q.query_type) {
            Ok((asked, _)) if asked == reference => {}
            Ok((asked, _)) => return Err(differs(&asked, &reference)),
            Err(why) => return Err(WalkerDisagrees::HickoryRejects(why)),
        }
    }
    Ok(())
}

/// Classify a reply by its rcode and turn it into a [`Response`].
pub(super) fn verdict(msg: Reply, server_text: Arc<str>) -> Verdict {
    let status = match msg.metadata.response_code {
        ResponseCode::NoError => Status::NoError,
        ResponseCode::NXDomain => Status::NxDomain,
        // docs/rules/secure.md, Rule S1: a validating resolver's SERVFAIL
        // with a DNSSEC EDE means bogus data.
        ResponseCode::ServFail
            if msg
                .ede
                .is_some_and(|c| super::super::EDE_BOGUS.contains(&c)) =>
        {
            return Verdict::Failed(Response::status(
                Status::Temporary(TempError::Bogus {
                    server: server_text.to_string(),
                    ede: msg.ede.unwrap_or_default(),
                }),
                server_text,
            ));
        }
        ResponseCode::ServFail => {
            return Verdict::Failed(Response::status(
                Status::Temporary(TempError::ServFail(server_text.to_string())),
                server_text,
            ));
        }
        ResponseCode::Refused => {
            return Verdict::Failed(Response::status(
                Status::Temporary(TempError::Refused(server_text.to_string())),
                server_text,
            ));
        }
        other => {
            return Verdict::Failed(Response::status(
                Status::Temporary(TempError::Rcode {
                    rcode: mnemonic(other),
                    server: server_text.to_string(),
                }),
                server_text,
            ));
        }
    };
    // RFC 2308 section 5: a negative answer is cached for min(SOA TTL, SOA
    // MINIMUM) (of the first SOA of the authority section, see `Reply`).
    let negative_ttl = msg.negative_ttl;
    let mut answers = msg.answers;
    if answers.len() > MAX_ANSWERS {
        tracing::warn!(
            "{server_text}: {} answer records, keeping the first {MAX_ANSWERS}",
            answers.len()
        );
        answers.truncate(MAX_ANSWERS);
    }
    Verdict::Final(Response {
        status,
        answers: answers.into(),
        negative_ttl,
        authentic: msg.metadata.authentic_data,
        authoritative: msg.metadata.authoritative,
        server: server_text,
        // `accept` checked the question is the one asked.
        owners_asked: msg.owners_are_question,
    })
}

/// The IANA mnemonic of a response code (RFC 6895 section 2.3).
fn mnemonic(rcode: ResponseCode) -> String {
    let text = match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        ResponseCode::BADVERS => "BADVERS",
        ResponseCode::BADSIG => "BADSIG",
        ResponseCode::BADKEY => "BADKEY",
        ResponseCode::BADTIME => "BADTIME",
        ResponseCode::BADMODE => "BADMODE",
        ResponseCode::BADNAME => "BADNAME",
        ResponseCode::BADALG => "BADALG",
        ResponseCode::BADTRUNC => "BADTRUNC",
        ResponseCode::BADCOOKIE => "BADCOOKIE",
        ResponseCode::Unknown(n) => return format!("RCODE{n}"),
    };
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/rules/secure.md, Rule S1: SERVFAIL with a DNSSEC EDE (6 to 12)
    /// is bogus; with another EDE or none it stays a plain SERVFAIL; the AD
    /// bit of a NOERROR reply is kept.
    #[test]
    fn s1_servfail_with_a_dnssec_ede_is_bogus() {
        use hickory_proto::op::{Edns, Message, OpCode};
        use hickory_proto::rr::rdata::opt::EdnsOption;
        let name = Name::from_ascii("example.org.").unwrap();
        let server: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let reply = |rcode: ResponseCode, ad: bool, ede: Option<u16>| {
            let mut msg = Message::response(1, OpCode::Query);
            msg.metadata.response_code = rcode;
            msg.metadata.authentic_data = ad;
            msg.add_query(Query::query(name.clone(), RecordType::MX));
            let mut edns = Edns::new();
            if let Some(code) = ede {
                let data = code.to_be_bytes().to_vec();
                edns.options_mut().insert(EdnsOption::Unknown(15, data));
            }
            msg.set_edns(edns);
            read_reply(&msg.to_vec().unwrap(), &name, RecordType::MX, server).unwrap()
        };
        for code in 6..=12 {
            let resp = reply(ResponseCode::ServFail, false, Some(code));
            assert_eq!(
                resp.status,
                Status::Temporary(TempError::Bogus {
                    server: server.to_string(),
                    ede: code
                })
            );
        }
        let bogus = reply(ResponseCode::ServFail, false, Some(7));
        let Status::Temporary(e) = bogus.status else {
            unreachable!()
        };
        assert_eq!(
            e.to_string(),
            "DNSSEC validation failed at 127.0.0.1:53: EDE 7 (Signature Expired)"
        );
        for ede in [None, Some(22), Some(5), Some(13)] {
            let resp = reply(ResponseCode::ServFail, false, ede);
            assert_eq!(
                resp.status,
                Status::Temporary(TempError::ServFail(server.to_string())),
                "{ede:?}"
            );
        }
        assert!(reply(ResponseCode::NoError, true, None).authentic);
        assert!(!reply(ResponseCode::NoError, false, None).authentic);
    }

    #[test]
    fn rcode_mnemonics_are_iana_names() {
        assert_eq!(mnemonic(ResponseCode::NotImp), "NOTIMP");
        assert_eq!(mnemonic(ResponseCode::Unknown(3841)), "RCODE3841");
    }
}

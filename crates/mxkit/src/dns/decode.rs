//! Decoding DNS replies: reads the parts of a reply datagram that routing
//! uses into a [`Reply`], by the walker where it can and by hickory-proto
//! otherwise.
//!
//! (Named `decode`, not `walk`: `smtp::walk` is the failover loop over a
//! route's candidates. The **walker** here walks the records of one
//! datagram in place.)
//!
//! Words:
//! - a [`Reply`] is what the engine keeps of a datagram: the header, the
//!   question (when there is exactly one), the answer records and the
//!   negative TTL (RFC 2308 section 5) of the first SOA in the authority
//!   section;
//! - the **walker** ([`walk`]) reads replies whose records are all of the
//!   kinds routing asks for: A, AAAA, CNAME and MX in the answer section, SOA
//!   and NS in the authority section (the additional section is only stepped
//!   over, as before). Nothing is allocated but the answer records kept.
//!   Anything else (another record type, another opcode, several questions,
//!   an empty or mis-sized RDATA, a malformed field) makes it **give way**:
//!   `None`, and the reply is read by hickory-proto instead ([`read`],
//!   [`by_hickory`]);
//! - hickory-proto stays the **reference**: whenever the walker reads a
//!   datagram, hickory reads the same [`Reply`] from it (a differential
//!   test and the `reply` fuzz target check this), so the walker never
//!   accepts what hickory rejects. Names are read by hickory's own name
//!   decoder, so compression pointers, label and name lengths follow its
//!   rules exactly;
//! - a datagram neither reads is **undecodable**: a [`DecodeError`] says why.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::panic::catch_unwind;

use hickory_proto::op::{Header, HeaderCounts, Message, Metadata, OpCode, Query};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// Why a datagram could not be decoded as a DNS reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than the 12-octet header (RFC 1035 section 4.1.1): its length.
    #[error("{0} byte(s), shorter than a DNS header")]
    Short(usize),
    /// A record of the additional section runs past the end of the datagram.
    #[error("unexpected end of input reached")]
    Cut,
    /// A name of the additional section holds a label that is neither a
    /// length nor a compression pointer (RFC 1035 section 4.1.4): its first
    /// octet.
    #[error("unrecognized label code: {0:#04x}")]
    LabelCode(u8),
    /// More than one OPT record (RFC 6891 section 6.1.1).
    #[error("more than one EDNS record")]
    SecondOpt,
    /// hickory-proto rejected the header, the question, the answer or the
    /// authority section: its message.
    #[error("{0}")]
    Hickory(String),
    /// hickory-proto's decoder panicked (the panic was caught).
    #[error("the decoder panicked")]
    Panicked,
}

/// What the engine keeps of one reply.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    /// The header's flags, ID and response code (with the OPT record's
    /// upper bits merged in, RFC 6891 section 6.1.3).
    pub metadata: Metadata,
    /// The number of questions in the question section.
    pub questions: u16,
    /// The question, when there is exactly one.
    pub question: Option<Query>,
    /// The answer section.
    pub answers: Vec<Record>,
    /// min(TTL, MINIMUM) of the first SOA record in the authority section.
    pub negative_ttl: Option<u32>,
    /// The INFO-CODE of the first Extended DNS Error option (RFC 8914
    /// section 2) of the OPT record, if there is one.
    pub ede: Option<u16>,
    /// Every answer record's owner is the question's name: the walker saw
    /// each owner written as a pointer to it (RFC 1035 section 4.1.4),
    /// which is how servers write the owners of a plain answer. `false`
    /// says nothing (hickory read the reply, or some owner is written out).
    pub owners_are_question: bool,
}

/// Two replies are equal when they hold the same: every field but
/// `owners_are_question`, which is a claim about the answers (hickory's
/// reader never makes it, the walker does); a reply that makes it must
/// hold it, or it equals nothing. So the differential tests of the walker
/// against hickory check the claim too.
impl PartialEq for Reply {
    fn eq(&self, other: &Reply) -> bool {
        self.metadata == other.metadata
            && self.questions == other.questions
            && self.question == other.question
            && self.answers == other.answers
            && self.negative_ttl == other.negative_ttl
            && self.ede == other.ede
            && self.claim_holds()
            && other.claim_holds()
    }
}

impl Reply {
    /// `owners_are_question` is false, or every answer's owner is the
    /// question's name, case and all.
    fn claim_holds(&self) -> bool {
        !self.owners_are_question
            || self.question.as_ref().is_some_and(|q| {
                self.answers
                    .iter()
                    .all(|r| r.name.eq_case(&q.name) && r.name.is_fqdn() == q.name.is_fqdn())
            })
    }

    /// What the engine keeps of a message hickory-proto decoded, with what
    /// the walk of its additional section found in the OPT record.
    fn from_message(msg: Message, opt: Opt) -> Reply {
        let negative_ttl = msg.authorities.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
            _ => None,
        });
        let questions = u16::try_from(msg.queries.len()).unwrap_or(u16::MAX);
        let question = match msg.queries.as_slice() {
            [q] => Some(q.clone()),
            _ => None,
        };
        Reply {
            metadata: msg.metadata,
            questions,
            question,
            answers: msg.answers,
            negative_ttl,
            ede: opt.ede,
            owners_are_question: false,
        }
    }
}

/// Read a reply: by the walker when it can, else by hickory-proto
/// ([`by_hickory`]). Never panics.
pub(crate) fn read(packet: &[u8]) -> Result<Reply, DecodeError> {
    // hickory's decoders are not expected to panic; if one does, the
    // datagram goes to `by_hickory`, which reports it as undecodable.
    match catch_unwind(|| walk(packet)) {
        Ok(Some(reply)) => Ok(reply),
        Ok(None) | Err(_) => by_hickory(packet),
    }
}

/// [`read`] for a reply to the query `sent` (a query the engine wrote:
/// header, question, OPT record), which asked `name` / `rtype`: when the
/// reply's question is the query's, octet for octet, it is not decoded
/// again but taken from `name` and `rtype`, and the `bool` says so (the
/// question is then the one asked, and the caller need not compare it).
/// Otherwise (another case, another question) it is read as [`read`] reads
/// it, and the caller compares.
pub(crate) fn read_asked(
    packet: &[u8],
    sent: &[u8],
    name: &Name,
    rtype: RecordType,
) -> Result<(Reply, bool), DecodeError> {
    let Some(end) = asked_question_end(packet, sent) else {
        return read(packet).map(|reply| (reply, false));
    };
    let question = Query::query(name.clone(), rtype);
    match catch_unwind(|| walk_from(packet, question, end)) {
        Ok(Some(reply)) => Ok((reply, true)),
        // The walker gave way (it would again from the question): hickory.
        Ok(None) | Err(_) => by_hickory(packet).map(|reply| (reply, false)),
    }
}

/// A query as the engine writes one for the question `q` (ID 0, class
/// IN, an OPT record), for tests of [`read_asked`]: the name as it is,
/// uncompressed.
pub(crate) fn query_for(q: &Query) -> Vec<u8> {
    use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
    let mut wire = vec![0u8; 12];
    let mut encoder = BinEncoder::new(&mut wire);
    encoder.set_offset(12);
    let _ = Query::query(q.name.clone(), q.query_type).emit(&mut encoder);
    wire.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
    wire
}

/// Octets of the OPT record the engine's queries end with (root owner,
/// type, class, TTL, empty RDATA).
const QUERY_OPT_LEN: usize = 11;

/// Where the question of `packet` ends, when it is the question of the
/// query `sent` octet for octet (see [`read_asked`]).
fn asked_question_end(packet: &[u8], sent: &[u8]) -> Option<usize> {
    let question = sent.get(12..sent.len().checked_sub(QUERY_OPT_LEN)?)?;
    let end = 12 + question.len();
    (packet.get(12..end)? == question).then_some(end)
}

/// Most answer records the walker reads itself; a longer answer section
/// is left to hickory (which the engine then cuts, see `MAX_ANSWERS`).
const MAX_WALKED: u16 = 512;

/// Walk a reply (see the module documentation); `None`: give way to hickory.
pub(crate) fn walk(packet: &[u8]) -> Option<Reply> {
    let (metadata, counts, mut d) = walked_header(packet)?;
    let question = Query::read(&mut d).ok()?;
    walk_sections(packet, metadata, counts, question, d.index())
}

/// [`walk`] with the question known (see [`read_asked`]): `question` is
/// what hickory reads at offset 12, and `at` where it ends.
fn walk_from(packet: &[u8], question: Query, at: usize) -> Option<Reply> {
    let (metadata, counts, _) = walked_header(packet)?;
    walk_sections(packet, metadata, counts, question, at)
}

/// The header of a reply the walker reads (one question, a query, not too
/// many answers), and a decoder at the question.
fn walked_header(packet: &[u8]) -> Option<(Metadata, HeaderCounts, BinDecoder<'_>)> {
    if packet.len() < 12 || packet.len() > usize::from(u16::MAX) {
        return None;
    }
    let mut d = BinDecoder::new(packet);
    let Header { metadata, counts } = Header::read(&mut d).ok()?;
    if metadata.op_code != OpCode::Query || counts.queries != 1 || counts.answers > MAX_WALKED {
        return None;
    }
    Some((metadata, counts, d))
}

/// The walk after the question: the answer, authority and additional
/// sections from `at`.
fn walk_sections(
    packet: &[u8],
    mut metadata: Metadata,
    counts: HeaderCounts,
    question: Query,
    mut at: usize,
) -> Option<Reply> {
    let mut owners_are_question = true;
    let mut answers = Vec::with_capacity(usize::from(counts.answers));
    for _ in 0..counts.answers {
        owners_are_question &= packet.get(at..at + 2) == Some(&TO_QUESTION[..]);
        let (record, next) = answer(packet, at, question.name())?;
        answers.push(record);
        at = next;
    }
    let mut negative_ttl = None;
    for _ in 0..counts.authorities {
        let (soa, next) = authority(packet, at)?;
        if negative_ttl.is_none() {
            negative_ttl = soa;
        }
        at = next;
    }
    let opt = walk_additionals(packet, at, counts.additionals).ok()?;
    if let Some(high) = opt.rcode_high {
        metadata.merge_response_code(high);
    }
    Some(Reply {
        metadata,
        questions: 1,
        question: Some(question),
        answers,
        negative_ttl,
        ede: opt.ede,
        owners_are_question,
    })
}

/// A name at `at` (hickory's decoder) and the offset after it.
fn name(packet: &[u8], at: usize) -> Option<(Name, usize)> {
    let mut d = BinDecoder::new(packet).clone(u16::try_from(at).ok()?);
    let name = Name::read(&mut d).ok()?;
    Some((name, d.index()))
}

/// The fixed part of a record after its owner: type, class, TTL and the
/// RDATA's bounds (RFC 1035 section 4.1.3). `None` for an empty RDATA
/// (hickory reads it as an update record, which a reply must not hold).
fn fixed(packet: &[u8], at: usize) -> Option<(u16, u16, u32, usize, usize)> {
    let f = packet.get(at..at + 10)?;
    let rtype = u16::from_be_bytes([f[0], f[1]]);
    let class = u16::from_be_bytes([f[2], f[3]]);
    let ttl = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
    let len = usize::from(u16::from_be_bytes([f[8], f[9]]));
    let start = at + 10;
    let end = start + len;
    if len == 0 || end > packet.len() {
        return None;
    }
    Some((rtype, class, ttl, start, end))
}

/// The compression pointer to offset 12, where the question's name starts
/// (RFC 1035 section 4.1.4): how nearly every answer record names its owner.
const TO_QUESTION: [u8; 2] = [0xc0, 12];

/// One answer record of a walked type, and the offset after it. An owner
/// that points at the question's name is that name (`question`, already
/// read there), not read again.
fn answer(packet: &[u8], at: usize, question: &Name) -> Option<(Record, usize)> {
    let (owner, at) = if packet.get(at..at + 2) == Some(&TO_QUESTION[..]) {
        (question.clone(), at + 2)
    } else {
        name(packet, at)?
    };
    let (rtype, class, ttl, start, end) = fixed(packet, at)?;
    let rdata = packet.get(start..end)?;
    let data = match RecordType::from(rtype) {
        RecordType::A => RData::A(A(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).ok()?))),
        RecordType::AAAA => RData::AAAA(AAAA(Ipv6Addr::from(<[u8; 16]>::try_from(rdata).ok()?))),
        RecordType::CNAME => {
            let (target, after) = name(packet, start)?;
            if after != end {
                return None;
            }
            RData::CNAME(CNAME(target))
        }
        RecordType::MX => {
            let preference = u16::from_be_bytes([*rdata.first()?, *rdata.get(1)?]);
            let (exchange, after) = name(packet, start + 2)?;
            if after != end {
                return None;
            }
            RData::MX(MX::new(preference, exchange))
        }
        _ => return None,
    };
    let mut record = Record::from_rdata(owner, ttl, data);
    record.dns_class = DNSClass::from(class);
    Some((record, end))
}

/// Where the name at `at` ends, when hickory's name decoder reads one
/// there: [`name`] without building the name, for the names the engine
/// only steps over (the authority section's). The same rules, in the same
/// order (a property test compares the two on arbitrary datagrams): a
/// label of at most 63 octets; a compression pointer only to an offset
/// before the part of the name it is in, and the part it leads to must
/// end before that part starts; at most 255 octets as hickory counts them
/// while it reads, and a text form under 255 at the end.
fn skip_name(packet: &[u8], at: usize) -> Option<usize> {
    let mut here = at;
    // The part of the name being read starts here; after a pointer, what
    // is read must stay before the part that held it.
    let mut part_start = at;
    let mut before: Option<usize> = None;
    // Where the name ends in the datagram: after its first pointer, or
    // after its root label when it has none.
    let mut end = None;
    let (mut labels, mut octets) = (0usize, 0usize);
    loop {
        if before.is_some_and(|limit| here >= limit) {
            return None;
        }
        let len = *packet.get(here)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                end.get_or_insert(here + 1);
                break;
            }
            0x00 => {
                let len = usize::from(len);
                packet.get(here + 1..here + 1 + len)?;
                // hickory's `extend_name`: the wire length with this label.
                if labels + octets + 1 + len + 1 > 255 {
                    return None;
                }
                labels += 1;
                octets += len;
                here += 1 + len;
            }
            0xc0 => {
                let low = *packet.get(here + 1)?;
                let to = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                if to >= part_start {
                    return None;
                }
                end.get_or_insert(here + 2);
                before = Some(part_start);
                part_start = to;
                here = to;
            }
            _ => return None,
        }
    }
    // hickory's `Name::len`: the text form with its final dot.
    (labels.max(1) + octets < 255).then_some(end?)
}

/// One authority record (SOA or NS), checked as hickory checks it; the
/// SOA's negative TTL, and the offset after it.
fn authority(packet: &[u8], at: usize) -> Option<(Option<u32>, usize)> {
    let at = skip_name(packet, at)?;
    let (rtype, _, ttl, start, end) = fixed(packet, at)?;
    match RecordType::from(rtype) {
        RecordType::SOA => {
            let after = skip_name(packet, start)?;
            let after = skip_name(packet, after)?;
            if after + 20 != end {
                return None;
            }
            let m = packet.get(end - 4..end)?;
            let minimum = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
            Some((Some(ttl.min(minimum)), end))
        }
        RecordType::NS => {
            let after = skip_name(packet, start)?;
            (after == end).then_some((None, end))
        }
        _ => None,
    }
}

/// Decode a reply with hickory-proto ([`hickory_message`]) into what the
/// engine keeps of it.
pub(crate) fn by_hickory(packet: &[u8]) -> Result<Reply, DecodeError> {
    hickory_message(packet).map(|(msg, opt)| Reply::from_message(msg, opt))
}

/// Decode a reply with hickory-proto; never panics (a decoder panic is
/// caught and reported as undecodable). hickory's name decoder only follows
/// compression pointers backwards, so pointer loops end in an error, not a
/// hang.
///
/// The header, the question, the answer and the authority sections are
/// decoded with hickory-proto; the additional section is only walked
/// (bounds-checked, nothing allocated): routing never uses it (RFC 5321
/// section 5.1: no glue, the addresses are asked for), except the OPT
/// record, whose upper rcode bits are merged into the response code (RFC
/// 6891 section 6.1.3). Decoding the additional records cost about a third
/// of the decode time of an MX reply with glue.
fn hickory_message(packet: &[u8]) -> Result<(Message, Opt), DecodeError> {
    if packet.len() < 12 {
        return Err(DecodeError::Short(packet.len()));
    }
    match catch_unwind(|| hickory_sections(packet)) {
        Ok(result) => result,
        Err(_) => Err(DecodeError::Panicked),
    }
}

fn hickory_sections(packet: &[u8]) -> Result<(Message, Opt), DecodeError> {
    fn hickory(e: impl std::fmt::Display) -> DecodeError {
        DecodeError::Hickory(e.to_string())
    }
    let mut decoder = BinDecoder::new(packet);
    let Header {
        mut metadata,
        counts,
    } = Header::read(&mut decoder).map_err(hickory)?;
    let mut queries = Vec::with_capacity(usize::from(counts.queries.min(4)));
    for _ in 0..counts.queries {
        queries.push(Query::read(&mut decoder).map_err(hickory)?);
    }
    let op = metadata.op_code;
    let (answers, _, _) =
        Message::read_records(&mut decoder, usize::from(counts.answers), false, op)
            .map_err(hickory)?;
    let (authorities, _, _) =
        Message::read_records(&mut decoder, usize::from(counts.authorities), false, op)
            .map_err(hickory)?;
    let offset = packet.len() - decoder.len();
    let opt = walk_additionals(packet, offset, counts.additionals)?;
    if let Some(high) = opt.rcode_high {
        metadata.merge_response_code(high);
    }
    let mut msg = Message::new(metadata.id, metadata.message_type, metadata.op_code);
    msg.metadata = metadata;
    msg.queries = queries;
    msg.answers = answers;
    msg.authorities = authorities;
    Ok((msg, opt))
}

/// What the walk of the additional section read from the OPT record.
#[derive(Clone, Copy, Debug, Default)]
struct Opt {
    /// The upper 8 bits of the extended rcode (RFC 6891 section 6.1.3).
    rcode_high: Option<u8>,
    /// The INFO-CODE of the first Extended DNS Error option (RFC 8914).
    ede: Option<u16>,
}

/// EDNS option code of Extended DNS Errors (RFC 8914 section 2).
const EDE_OPTION: u16 = 15;

/// The INFO-CODE of the first EDE option in an OPT record's RDATA: a list
/// of (OPTION-CODE, OPTION-LENGTH, data) (RFC 6891 section 6.1.2). An EDE
/// option shorter than its 2-octet INFO-CODE, or a list that runs past its
/// end, gives nothing: the EDE only ever refines a SERVFAIL.
fn first_ede(mut options: &[u8]) -> Option<u16> {
    while options.len() >= 4 {
        let code = u16::from_be_bytes([options[0], options[1]]);
        let len = usize::from(u16::from_be_bytes([options[2], options[3]]));
        let data = options.get(4..4 + len)?;
        if code == EDE_OPTION {
            return Some(u16::from_be_bytes([*data.first()?, *data.get(1)?]));
        }
        options = &options[4 + len..];
    }
    None
}

/// Walk `count` records from `at` (RFC 1035 section 4.1.3) without decoding
/// them; return what the OPT record holds for the engine, if there is one:
/// the upper rcode bits and the first Extended DNS Error. Errors on a record
/// that runs past the end, a second OPT record (RFC 6891 section 6.1.1) or a
/// bad name.
fn walk_additionals(packet: &[u8], mut at: usize, count: u16) -> Result<Opt, DecodeError> {
    let cut = || DecodeError::Cut;
    let mut opt = Opt::default();
    for _ in 0..count {
        // The owner name: labels up to a zero octet or a compression pointer.
        loop {
            let len = *packet.get(at).ok_or_else(cut)?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    at += 1;
                    break;
                }
                0x00 => at += 1 + usize::from(len),
                0xc0 => {
                    packet.get(at + 1).ok_or_else(cut)?;
                    at += 2;
                    break;
                }
                _ => return Err(DecodeError::LabelCode(len)),
            }
        }
        let fixed = packet.get(at..at + 10).ok_or_else(cut)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        at += 10;
        let rdata = packet.get(at..at + rdlength).ok_or_else(cut)?;
        if rtype == u16::from(RecordType::OPT) {
            if opt.rcode_high.is_some() {
                return Err(DecodeError::SecondOpt);
            }
            // TTL of OPT: extended RCODE (upper 8 bits), version, flags.
            opt.rcode_high = Some(fixed[4]);
            opt.ede = first_ede(rdata);
        }
        at += rdlength;
    }
    Ok(opt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, MessageType, ResponseCode};
    use hickory_proto::rr::rdata::{NS, SOA, TXT};
    use proptest::prelude::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    /// The reference: what the engine's hickory reader makes of `packet`.
    fn reference(packet: &[u8]) -> Result<Reply, DecodeError> {
        by_hickory(packet)
    }

    proptest! {
        /// `skip_name` ends where hickory's name decoder ends, and refuses
        /// what it refuses: on datagrams of labels, pointers (backwards,
        /// forwards, to themselves), root labels, reserved label codes and
        /// long labels, from every offset.
        #[test]
        fn skip_name_is_hickorys_name_decoder(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(vec![0u8]),
                    (1u8..64, any::<u8>()).prop_map(|(len, b)| {
                        let mut l = vec![len];
                        l.extend(std::iter::repeat_n(b, usize::from(len)));
                        l
                    }),
                    (0u16..400).prop_map(|to| (0xc000 | to).to_be_bytes().to_vec()),
                    any::<u8>().prop_map(|b| vec![b]),
                    Just(vec![3, b'a', b'b', b'c']),
                ],
                0..40,
            )
        ) {
            let packet: Vec<u8> = parts.concat();
            for at in 0..packet.len() {
                prop_assert_eq!(
                    skip_name(&packet, at),
                    name(&packet, at).map(|(_, end)| end),
                    "at {} of {:02x?}", at, packet
                );
            }
        }
    }

    /// Names near the length limits: `skip_name` and hickory agree.
    #[test]
    fn skip_name_at_the_length_limits() {
        for labels in 1..=6 {
            for last in 0..=63usize {
                let mut packet = Vec::new();
                for _ in 0..labels - 1 {
                    packet.push(50);
                    packet.extend_from_slice(&[b'a'; 50]);
                }
                packet.push(last as u8);
                packet.extend(std::iter::repeat_n(b'b', last));
                if last > 0 {
                    packet.push(0);
                }
                assert_eq!(
                    skip_name(&packet, 0),
                    name(&packet, 0).map(|(_, end)| end),
                    "{labels} labels, the last of {last}"
                );
            }
        }
    }

    /// The walker agrees with hickory whenever it reads a datagram.
    fn agrees(packet: &[u8]) -> Result<(), TestCaseError> {
        if let Some(walked) = walk(packet) {
            match reference(packet) {
                Ok(want) => {
                    // The engine's way for its own query reads the same.
                    if let Some(q) = &want.question {
                        let (asked, _) = read_asked(packet, &query_for(q), &q.name, q.query_type)
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        prop_assert_eq!(&asked, &want);
                    }
                    prop_assert_eq!(walked, want)
                }
                Err(why) => {
                    return Err(TestCaseError::fail(format!(
                        "walked what hickory rejects ({why}): {packet:02x?}"
                    )));
                }
            }
        }
        Ok(())
    }

    fn sample(rcode: u16, answers: &[Record], soa: bool, ns: bool, edns: bool) -> Vec<u8> {
        let q = n("example.org.");
        let mut msg = Message::response(0x4d58, OpCode::Query);
        msg.metadata.response_code = ResponseCode::from((rcode >> 4) as u8, (rcode & 15) as u8);
        msg.metadata.authoritative = true;
        msg.add_query(Query::query(q.clone(), RecordType::MX));
        for r in answers {
            msg.add_answer(r.clone());
        }
        if soa {
            msg.add_authority(Record::from_rdata(
                q.clone(),
                300,
                RData::SOA(SOA::new(
                    n("ns.example.org."),
                    n("hostmaster.example.org."),
                    1,
                    7200,
                    3600,
                    1_209_600,
                    60,
                )),
            ));
        }
        if ns {
            msg.add_authority(Record::from_rdata(
                q.clone(),
                300,
                RData::NS(NS(n("ns.example.org."))),
            ));
        }
        msg.add_additional(Record::from_rdata(
            n("mx.example.org."),
            300,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        if edns {
            msg.set_edns(Edns::new());
        }
        msg.to_vec().unwrap()
    }

    fn mx_answers(k: usize) -> Vec<Record> {
        (0..k)
            .map(|i| {
                Record::from_rdata(
                    n("example.org."),
                    300 + i as u32,
                    RData::MX(MX::new(i as u16, n(&format!("mx{i}.example.org.")))),
                )
            })
            .collect()
    }

    #[test]
    fn walks_the_replies_routing_gets() {
        let other = vec![
            Record::from_rdata(n("example.org."), 60, RData::CNAME(CNAME(n("b.example.")))),
            Record::from_rdata(n("b.example."), 60, RData::A(A::new(192, 0, 2, 7))),
            Record::from_rdata(
                n("b.example."),
                60,
                RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            ),
        ];
        for (answers, soa, ns) in [
            (mx_answers(3), false, false),
            (mx_answers(1), false, true),
            (Vec::new(), true, false),
            (other, false, false),
        ] {
            for edns in [false, true] {
                for rcode in [0, 3, 2, 16] {
                    if rcode > 15 && !edns {
                        continue;
                    }
                    let wire = sample(rcode, &answers, soa, ns, edns);
                    let walked = walk(&wire).expect("a plain reply is walked");
                    assert_eq!(Ok(walked.clone()), reference(&wire));
                    // An MX answer's owners are written as pointers to the
                    // question; the chain's are not.
                    let mx_only = answers.iter().all(|r| r.record_type() == RecordType::MX);
                    assert_eq!(walked.owners_are_question, mx_only);
                    // The reply to the engine's own query: the question is
                    // taken from the query, not read again, and the reply
                    // is the same.
                    let q = walked.question.clone().unwrap();
                    let (asked, same) =
                        read_asked(&wire, &query_for(&q), &q.name, RecordType::MX).unwrap();
                    assert!(same, "the question is the query's");
                    assert_eq!(asked, walked);
                    // A query in another case (0x20 mixing) is compared,
                    // not taken: the reply is read whole.
                    let upper = Query::query(n("EXAMPLE.org."), RecordType::MX);
                    let (read_whole, same) =
                        read_asked(&wire, &query_for(&upper), &upper.name, RecordType::MX).unwrap();
                    assert!(!same);
                    assert_eq!(read_whole, walked);
                    // Another type: compared, not taken.
                    let a = Query::query(q.name.clone(), RecordType::A);
                    assert!(
                        !read_asked(&wire, &query_for(&a), &a.name, RecordType::A)
                            .unwrap()
                            .1
                    );
                    assert_eq!(walked.answers.len(), answers.len());
                    assert_eq!(walked.metadata.message_type, MessageType::Response);
                }
            }
        }
    }

    /// RFC 8914: the first EDE option's INFO-CODE is kept, by the walker and
    /// by hickory alike; a damaged option list or an EDE too short for its
    /// code gives none.
    #[test]
    fn extended_dns_errors_are_kept() {
        use hickory_proto::rr::rdata::opt::EdnsOption;
        let with_options = |options: Vec<EdnsOption>| {
            let mut msg = Message::response(7, OpCode::Query);
            msg.metadata.response_code = ResponseCode::ServFail;
            msg.add_query(Query::query(n("example.org."), RecordType::MX));
            let mut edns = Edns::new();
            for o in options {
                edns.options_mut().insert(o);
            }
            msg.set_edns(edns);
            msg.to_vec().unwrap()
        };
        let cookie = EdnsOption::Unknown(10, vec![1; 8]);
        let ede = |code: u16, text: &str| {
            let mut data = code.to_be_bytes().to_vec();
            data.extend_from_slice(text.as_bytes());
            EdnsOption::Unknown(EDE_OPTION, data)
        };
        for (options, want) in [
            (vec![ede(7, "signature expired")], Some(7)),
            (vec![cookie.clone(), ede(9, ""), ede(6, "")], Some(9)),
            (vec![cookie.clone()], None),
            (vec![EdnsOption::Unknown(EDE_OPTION, vec![0])], None),
            (vec![], None),
        ] {
            let wire = with_options(options);
            let walked = walk(&wire).expect("walked");
            assert_eq!(walked.ede, want);
            assert_eq!(Ok(walked), reference(&wire));
        }
        assert_eq!(first_ede(&[0, 15, 0, 9, 0, 6]), None, "runs past its end");
        assert_eq!(first_ede(&[0, 15, 0, 2, 0, 6, 0]), Some(6));
    }

    #[test]
    fn gives_way_on_other_record_types() {
        let txt = vec![Record::from_rdata(
            n("example.org."),
            60,
            RData::TXT(TXT::new(vec!["v=spf1 -all".to_owned()])),
        )];
        let wire = sample(0, &txt, false, false, true);
        assert!(walk(&wire).is_none());
        // hickory reads it: the engine's result does not change.
        assert_eq!(read(&wire), reference(&wire));
    }

    /// Every cut of a sample reply: the walker reads a cut datagram only
    /// when hickory reads the same from it.
    #[test]
    fn cut_replies_agree() {
        for wire in [
            sample(0, &mx_answers(3), false, true, true),
            sample(3, &[], true, false, true),
        ] {
            for cut in 0..=wire.len() {
                agrees(&wire[..cut]).unwrap();
            }
        }
    }

    /// The fuzz corpus of the `reply` target, when `MXKIT_REPLY_CORPUS`
    /// names its folder (it is not in the repository).
    #[test]
    fn reply_corpus_agrees() {
        let Some(dir) = std::env::var_os("MXKIT_REPLY_CORPUS") else {
            return;
        };
        let (mut n, mut walked) = (0, 0);
        for entry in std::fs::read_dir(dir).unwrap() {
            let packet = std::fs::read(entry.unwrap().path()).unwrap();
            agrees(&packet).unwrap();
            n += 1;
            walked += usize::from(walk(&packet).is_some());
        }
        eprintln!("{n} corpus replies agree ({walked} walked, the rest read by hickory)");
    }

    /// The lean decoder agrees with hickory's on what routing uses, and
    /// merges the OPT record's upper rcode bits.
    #[test]
    fn lean_decode_matches_hickory_on_the_sections_it_keeps() {
        use hickory_proto::rr::Record;
        use hickory_proto::rr::rdata::{A, MX, SOA};
        let q = Name::from_ascii("example.").unwrap();
        let mut reply = Message::response(7, OpCode::Query);
        reply.add_query(Query::query(q.clone(), RecordType::MX));
        reply.add_answer(Record::from_rdata(
            q.clone(),
            60,
            RData::MX(MX::new(10, Name::from_ascii("mx.example.").unwrap())),
        ));
        reply.add_authority(Record::from_rdata(
            q.clone(),
            60,
            RData::SOA(SOA::new(q.clone(), q.clone(), 1, 2, 3, 4, 5)),
        ));
        reply.add_additional(Record::from_rdata(
            Name::from_ascii("mx.example.").unwrap(),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        // BADVERS (16) needs the OPT record's upper rcode bits.
        reply.metadata.response_code = ResponseCode::BADVERS;
        reply.set_edns(Edns::new());
        let wire = reply.to_vec().unwrap();
        let full = Message::from_vec(&wire).unwrap();
        let (lean, _) = hickory_message(&wire).unwrap();
        assert_eq!(lean.metadata, full.metadata);
        assert_eq!(u16::from(lean.metadata.response_code), 16, "BADVERS");
        assert_eq!(lean.queries, full.queries);
        assert_eq!(lean.answers, full.answers);
        assert_eq!(lean.authorities, full.authorities);
        // Cut anywhere: never a panic, and an error wherever hickory errs too.
        for cut in 0..wire.len() {
            if Message::from_vec(&wire[..cut]).is_err() {
                assert!(by_hickory(&wire[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn decode_never_panics_on_short_or_garbage_input() {
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = by_hickory(&junk);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Damaged replies: any octets overwritten anywhere.
        #[test]
        fn damaged_replies_agree(
            k in 0usize..4,
            soa in any::<bool>(),
            ns in any::<bool>(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let mut wire = sample(0, &mx_answers(k), soa, ns, true);
            for (at, byte) in edits {
                let i = at.index(wire.len());
                wire[i] = byte;
            }
            agrees(&wire)?;
        }

        /// Arbitrary octets after a valid header and question.
        #[test]
        fn arbitrary_tails_agree(
            counts in prop::array::uniform6(0u8..4),
            tail in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut wire = sample(0, &[], false, false, false);
            wire.truncate(12 + 13 + 4);
            wire[4..12].copy_from_slice(&[0, counts[0] % 2 + 1, 0, counts[1], 0, counts[2], 0, counts[3]]);
            wire.extend_from_slice(&tail);
            agrees(&wire)?;
        }

        /// Arbitrary octets.
        #[test]
        fn arbitrary_octets_agree(packet in prop::collection::vec(any::<u8>(), 0..300)) {
            agrees(&packet)?;
        }
    }
}
